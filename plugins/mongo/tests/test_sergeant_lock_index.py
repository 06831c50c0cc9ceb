"""Locks keep working in a database Sergeant 0.27.0 used too: it made ``locks.name``
a unique index there, and ``sergeant`` is both projects' default database."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pymongo import MongoClient
from sergeant_mongo import MongoConnector
from sergeant_test_support.mongo_fixtures import MongoServer


@pytest.fixture
def client(mongo_server: MongoServer) -> Iterator[MongoClient[dict[str, Any]]]:
    if mongo_server.uri is not None:
        found: MongoClient[dict[str, Any]] = MongoClient(mongo_server.uri)
    else:
        found = MongoClient(mongo_server.host, mongo_server.port, directConnection=True)
    yield found
    found.close()


def test_two_locks_under_sergeants_unique_name_index(
    mongo_server: MongoServer,
    make_connector: Callable[..., MongoConnector],
    client: MongoClient[dict[str, Any]],
) -> None:
    database = f"shared_{uuid.uuid4().hex[:8]}"
    client[database]["locks"].create_index("name", unique=True)  # what Sergeant 0.27.0 made
    connector = make_connector(mongo_server, database=database)
    first, second = connector.lock("first"), connector.lock("second")
    assert first.acquire(timeout=0, ttl=30) is True
    assert second.acquire(timeout=0, ttl=30) is True
    assert connector.lock("first").acquire(timeout=0) is False
    assert first.release() is True
    assert second.release() is True
    assert connector.lock("first").acquire(timeout=0, ttl=30) is True
