"""A third-party plugin's url scheme: ``memory:NAME`` names the memory connector.

Only sergeant-memory is installed here: its ``sergeant_connector_url_schemes``
and ``sergeant_connector_from_url`` hooks make ``--connector memory:NAME`` work
through the CLI, and a url of a scheme it does not declare is refused naming
its form.
"""

from __future__ import annotations

import uuid

import pytest
import sergeant
from sergeant.cli import build_parser, main
from sergeant.cli._connector_option import connector_from_args
from sergeant.errors import ConfigError


def parsed(spec: str) -> sergeant.config.Connector:
    return connector_from_args(build_parser().parse_args(["stats", "q", "--connector", spec]))


def test_the_plugin_declares_its_scheme() -> None:
    assert sergeant.registry.Registry().url_schemes() == {
        "memory": {"sergeant-memory 0.1.0": "memory:NAME"}
    }


def test_memory_name_is_the_named_store() -> None:
    assert parsed("memory:orders") == sergeant.config.Connector(
        type="memory", params={"name": "orders"}
    )


def test_a_url_the_plugin_does_not_declare_names_its_form() -> None:
    with pytest.raises(ConfigError) as caught:
        parsed("redis2://h")
    assert str(caught.value) == (
        "invalid --connector: 'redis2://h'; no installed plugin reads redis2: urls; the "
        "installed plugins read memory:NAME; use one of those, or name the connector by its "
        "type and params"
    )


def test_push_and_stats_through_the_url(capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI runs in this process, so the store it fills is the one the test reads."""
    spec = f"memory:{uuid.uuid4().hex}"
    assert main(["push", "jobs", "--count", "3", "--connector", spec]) == 0
    with sergeant.connect(parsed(spec)) as connector:
        assert connector.queue_length("jobs") == 3
