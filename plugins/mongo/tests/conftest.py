"""Shared fixtures of the mongo backend's tests (servers come from sergeant_test_support)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sergeant
from pymongo import MongoClient
from sergeant_mongo import MongoConnector
from sergeant_test_support.mongo_fixtures import MongoServer, mongo_connector_params

MakeConnector = Callable[..., MongoConnector]


@pytest.fixture
def make_connector() -> Iterator[MakeConnector]:
    """Build connectors on given servers (through the registry); all closed after the test."""
    made: list[MongoConnector] = []

    def make(*servers: MongoServer, **extra: Any) -> MongoConnector:
        config = sergeant.config.Connector(
            type="mongo", params=mongo_connector_params(*servers, **extra)
        )
        connector = sergeant.connect(config)
        assert isinstance(connector, MongoConnector)
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


@pytest.fixture
def client(mongo_server: MongoServer) -> Iterator[MongoClient[dict[str, Any]]]:
    """A pymongo client on the test server, to look at what the connector stored."""
    if mongo_server.uri is not None:
        found: MongoClient[dict[str, Any]] = MongoClient(mongo_server.uri)
    else:
        found = MongoClient(mongo_server.host, mongo_server.port, directConnection=True)
    yield found
    found.close()
