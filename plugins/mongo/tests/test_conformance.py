"""The conformance kit against one and two mongo nodes.

The mongoeco test server is slow (a sorted pop scans the collection), so the
concurrent tests drain fewer items than the kit's default: speed, not semantics.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sergeant
from sergeant.connector import Connector
from sergeant.testing import ConnectorConformance
from sergeant_test_support.mongo_fixtures import MongoServer, mongo_connector_params


class TestOneNode(ConnectorConformance):
    concurrent_items = 120
    lease_seconds = 1.0

    @pytest.fixture
    def connector_factory(self, mongo_server: MongoServer) -> Callable[[], Connector]:
        config = sergeant.config.Connector(
            type="mongo", params=mongo_connector_params(mongo_server)
        )
        return lambda: sergeant.connect(config)


class TestTwoNodes(ConnectorConformance):
    ordered = False
    concurrent_items = 120
    lease_seconds = 1.0

    @pytest.fixture
    def connector_factory(
        self, mongo_server: MongoServer, mongo_server_2: MongoServer
    ) -> Callable[[], Connector]:
        config = sergeant.config.Connector(
            type="mongo", params=mongo_connector_params(mongo_server, mongo_server_2)
        )
        return lambda: sergeant.connect(config)
