"""WorkerConfig and friends: Sergeant's fields and defaults, validated at construction."""

from __future__ import annotations

import logging

import pytest
import sergeant
from sergeant.config import (
    Connector,
    Encoder,
    Logging,
    LoggingEvents,
    Starvation,
    Timeouts,
    WorkerConfig,
)
from sergeant.errors import ConfigError


def test_defaults_match_sergeant() -> None:
    config = WorkerConfig(name="mailer")
    assert config.connector.type == "local"
    assert (config.max_tasks_per_run, config.max_retries) == (0, 0)
    assert (config.tasks_per_transaction, config.number_of_threads) == (1, 1)
    assert config.timeouts == Timeouts(timeout=0.0, grace_period=10.0)
    assert config.logging.level == logging.ERROR
    assert config.logging.events == LoggingEvents()
    assert config.starvation is None
    assert config.delivery == "at_least_once"


def test_replace_returns_a_changed_copy() -> None:
    config = WorkerConfig(name="a")
    assert config.replace(max_retries=3).max_retries == 3
    assert config.max_retries == 0


@pytest.mark.parametrize(
    ("field", "build"),
    [
        ("WorkerConfig.name", lambda: WorkerConfig(name="")),
        ("WorkerConfig.max_tasks_per_run", lambda: WorkerConfig(name="a", max_tasks_per_run=-1)),
        ("WorkerConfig.max_retries", lambda: WorkerConfig(name="a", max_retries=1.5)),
        (
            "WorkerConfig.tasks_per_transaction",
            lambda: WorkerConfig(name="a", tasks_per_transaction=0),
        ),
        ("WorkerConfig.number_of_threads", lambda: WorkerConfig(name="a", number_of_threads=0)),
        ("WorkerConfig.connector", lambda: WorkerConfig(name="a", connector={"type": "redis"})),
        ("WorkerConfig.encoder", lambda: WorkerConfig(name="a", encoder="msgpack")),
        ("WorkerConfig.starvation", lambda: WorkerConfig(name="a", starvation=5)),
        ("WorkerConfig.delivery", lambda: WorkerConfig(name="a", delivery="exactly_once")),
        ("WorkerConfig.max_deliveries", lambda: WorkerConfig(name="a", max_deliveries=0)),
        ("WorkerConfig.lease_seconds", lambda: WorkerConfig(name="a", lease_seconds=0)),
        ("Timeouts.timeout", lambda: Timeouts(timeout=-1)),
        ("Timeouts.grace_period", lambda: Timeouts(grace_period="10")),
        ("Starvation.time_with_no_tasks", lambda: Starvation(time_with_no_tasks=0)),
        # float(10**400) overflowed when the work loop started
        ("Starvation.time_with_no_tasks", lambda: Starvation(time_with_no_tasks=10**400)),
        (
            "WorkerConfig.number_of_threads",
            lambda: WorkerConfig(name="a", number_of_threads=2**40),
        ),
        ("Logging.events", lambda: Logging(events=True)),
    ],
)
def test_bad_values_name_the_field(field: str, build: object) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        build()  # type: ignore[operator]


def test_generate_config_must_return_a_worker_config() -> None:
    class Wrong(sergeant.Worker):
        def generate_config(self) -> WorkerConfig:
            return {"name": "x"}  # type: ignore[return-value]

    with pytest.raises(ConfigError, match="generate_config"):
        Wrong()


def test_sergeant_names_are_importable() -> None:
    import sergeant.objects
    import sergeant.worker

    assert sergeant.objects.Task is sergeant.Task
    assert sergeant.worker.Worker is sergeant.Worker
    assert Connector(params={}).type == "local"
    assert Encoder(compressor="zlib").compressor == "zlib"
