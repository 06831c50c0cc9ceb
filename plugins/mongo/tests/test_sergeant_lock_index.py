"""Locks keep working in a database Sergeant 0.27.0 used too: it made ``locks.name``
a unique index there, and ``sergeant`` is both projects' default database."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from pymongo import MongoClient
from sergeant_mongo import MongoConnector
from sergeant_test_support.mongo_fixtures import MongoServer


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
