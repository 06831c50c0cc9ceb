"""Shared helpers for the redis suite: connectors built on the session's servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from redis_helpers import connect
from sergeant.connector import Connector
from sergeant_test_support.redis_fixtures import RedisServer


@pytest.fixture
def connectors() -> Iterator[Callable[..., Connector]]:
    """Build connectors that are closed when the test ends: ``connectors(servers)``."""
    made: list[Connector] = []

    def make(servers: list[RedisServer], **node_extra: Any) -> Connector:
        connector = connect(servers, **node_extra)
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()
