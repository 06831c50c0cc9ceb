"""The conformance kit on one node and on two nodes."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import pytest
from redis_helpers import connect
from sergeant.connector import Connector
from sergeant.testing import ConnectorConformance
from sergeant_test_support.redis_fixtures import RedisServer


class TestOneNode(ConnectorConformance):
    lease_seconds: ClassVar[float] = 0.5

    @pytest.fixture
    def connector_factory(self, redis_server: RedisServer) -> Callable[[], Connector]:
        return lambda: connect([redis_server])


class TestTwoNodes(ConnectorConformance):
    ordered: ClassVar[bool] = False
    lease_seconds: ClassVar[float] = 0.5

    @pytest.fixture
    def connector_factory(self, redis_servers: list[RedisServer]) -> Callable[[], Connector]:
        return lambda: connect(redis_servers)
