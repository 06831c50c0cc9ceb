"""The example third-party connector, installed as its own distribution, passes the kit."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
import sergeant
from sergeant.connector import Connector
from sergeant.testing import ConnectorConformance


class TestMemoryConformance(ConnectorConformance):
    lease_seconds = 0.3

    @pytest.fixture
    def connector_factory(self) -> Callable[[], Connector]:
        config = sergeant.config.Connector(type="memory", params={"name": uuid.uuid4().hex})
        # Built through the registry: the type string finds the plugin by entry point.
        return lambda: sergeant.connect(config)


def test_found_by_entry_point() -> None:
    registry = sergeant.registry.Registry()
    cls = registry.resolve("memory")
    assert cls.__module__ == "sergeant_memory.connector"
    rows = [row for row in registry.discover() if row.type == "memory"]
    assert [(r.distribution, r.version, r.module, r.status) for r in rows] == [
        ("sergeant-memory", "0.1.0", "sergeant_memory.plugin", "ok")
    ]


def test_bad_param_names_the_field_at_construction() -> None:
    """The distribution's ``sergeant.connector_params`` entry point checks params
    when the config is built, before any connection."""
    with pytest.raises(sergeant.errors.ConfigError, match=r"'nmae'.*did you mean 'name'"):
        sergeant.config.Connector(type="memory", params={"nmae": "x"})
