"""sergeant.config.Connector: the seed's examples verbatim, immutability, hashing, redaction."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
import sergeant
from sergeant.errors import ConfigError, SergeantError

SEED_EXAMPLES = [
    sergeant.config.Connector(
        type="redis",
        params={"nodes": [{"host": "localhost", "port": 6379, "password": None, "database": 0}]},
    ),
    sergeant.config.Connector(
        type="redis",
        params={
            "nodes": [
                {"host": "localhost", "port": 6379, "password": None, "database": 0},
                {"host": "localhost", "port": 6380, "password": None, "database": 0},
            ],
        },
    ),
    sergeant.config.Connector(
        type="mongo",
        params={"nodes": [{"host": "localhost", "port": 27017, "replica_set": "replica_set_name"}]},
    ),
    sergeant.config.Connector(
        type="mongo",
        params={
            "nodes": [
                {"host": "localhost", "port": 27017, "replica_set": "replica_set_name"},
                {"host": "localhost", "port": 27018, "replica_set": "replica_set_name"},
            ],
        },
    ),
    sergeant.config.Connector(type="local", params={"file_path": "/tmp/sergeant_db.sqlite3"}),
]


@pytest.mark.parametrize("config", SEED_EXAMPLES, ids=lambda c: c.type)
def test_seed_examples_build_and_hash(config: sergeant.config.Connector) -> None:
    assert hash(config) == hash(pickle.loads(pickle.dumps(config)))
    assert config == pickle.loads(pickle.dumps(config))
    assert {config: 1}[config] == 1


def test_type_defaults_to_local_and_third_party_types_work() -> None:
    assert sergeant.config.Connector(params={}).type == "local"
    assert sergeant.config.Connector(type="acme", params={"x": 1}).type == "acme"


def test_params_are_copied_and_read_only() -> None:
    nodes = [{"host": "a", "port": 1}]
    config = sergeant.config.Connector(type="redis", params={"nodes": nodes})
    nodes.append({"host": "b", "port": 2})
    assert len(config.params["nodes"]) == 1
    with pytest.raises(TypeError):
        config.params["nodes"] = []  # type: ignore[index]


def test_equal_configs_hash_equal_and_different_differ() -> None:
    one = sergeant.config.Connector(type="redis", params={"nodes": [{"host": "a", "port": 1}]})
    same = sergeant.config.Connector(type="redis", params={"nodes": [{"port": 1, "host": "a"}]})
    other = sergeant.config.Connector(type="redis", params={"nodes": [{"host": "a", "port": 2}]})
    assert one == same
    assert hash(one) == hash(same)
    assert one != other


@pytest.mark.parametrize(
    "params",
    [
        {"nodes": [{"host": "h", "port": 1, "password": "hunter2-secret"}]},
        {"nodes": [{"url": "redis://user:hunter2-secret@h:6379/0"}]},
        {"uri": "mongodb://admin:hunter2-secret@h:27017/?authSource=admin"},
        {"password": "hunter2-secret"},
    ],
)
def test_repr_never_shows_a_password(params: dict[str, object]) -> None:
    config = sergeant.config.Connector(type="redis", params=params)
    assert "hunter2-secret" not in repr(config)
    assert "hunter2-secret" not in str(config)
    assert "***" in repr(config)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"params": ["file_path"]}, "Connector.params"),
        ({"params": {1: "x"}}, "Connector.params"),
        ({"params": {}, "type": ""}, "Connector.type"),
        ({"params": {}, "type": 3}, "Connector.type"),
    ],
)
def test_bad_config_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field) as caught:
        sergeant.config.Connector(**kwargs)  # type: ignore[arg-type]
    assert isinstance(caught.value, SergeantError)


def test_connect_rejects_a_non_config() -> None:
    with pytest.raises(ConfigError, match=r"sergeant.config.Connector"):
        sergeant.connect({"type": "local"})  # type: ignore[arg-type]


def test_params_that_cannot_be_copied_name_their_path() -> None:
    with pytest.raises(ConfigError, match=r"params\.nodes\[1\]\.ssl"):
        sergeant.config.Connector(
            type="redis", params={"nodes": [{"host": "a"}, {"host": "b", "ssl": (x for x in [])}]}
        )


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: sergeant.config.Encoder(compressor={}), "Encoder.compressor"),  # type: ignore[arg-type]
        (lambda: sergeant.config.Encoder(serializer=[]), "Encoder.serializer"),  # type: ignore[arg-type]
        (lambda: sergeant.config.Logging(handlers=2), "Logging.handlers"),  # type: ignore[arg-type]
        (lambda: sergeant.config.Logging(handlers=[1]), r"Logging.handlers\[0\]"),  # type: ignore[list-item]
        (lambda: sergeant.config.Logging(log_to_stdout="yes"), "Logging.log_to_stdout"),  # type: ignore[arg-type]
        (lambda: sergeant.config.LoggingEvents(on_success=1), "LoggingEvents.on_success"),  # type: ignore[arg-type]
    ],
)
def test_worker_config_objects_name_the_bad_field(build: Any, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        build()


@pytest.mark.parametrize("lease", [1e-300, 1e-6, 0.09])
def test_a_lease_too_short_to_renew_is_refused(lease: float) -> None:
    """A microsecond lease made the renewing thread spin and handed running
    tasks out again and again (thousands of dead letters for five tasks)."""
    with pytest.raises(ConfigError, match=r"WorkerConfig\.lease_seconds.*at least 0\.1 s"):
        sergeant.config.WorkerConfig(name="q", lease_seconds=lease)
    assert sergeant.config.WorkerConfig(name="q", lease_seconds=0.1).lease_seconds == 0.1
