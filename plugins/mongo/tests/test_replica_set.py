"""Replica sets: initiation on a real mongod, and a clear error for a standalone server.

The initiation test needs a real ``mongod --replSet NAME`` given by
``SERGEANT_TEST_MONGO_URI`` (name from the URI's ``replicaSet`` option, else
``SERGEANT_TEST_MONGO_REPLICA_SET``, else ``rs0``); mongoeco has no replica sets,
so without one the test skips, saying why (allowed by the CI no-skip guard).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from pymongo import MongoClient
from sergeant.errors import ConfigError
from sergeant_mongo import MongoConnector
from sergeant_test_support.mongo_fixtures import (
    URI_ENV,
    MongoServer,
    mongo_connector_params,
)


def _replica_set_name(uri: str) -> str:
    options = parse_qs(urlsplit(uri).query)
    names = options.get("replicaSet") or [os.environ.get("SERGEANT_TEST_MONGO_REPLICA_SET", "rs0")]
    return names[0]


@pytest.mark.allowed_skip("needs a real mongod started with --replSet")
def test_replica_set_is_initiated_and_used() -> None:
    uri = os.environ.get(URI_ENV)
    if not uri:
        pytest.skip(
            f"set {URI_ENV} to a real 'mongod --replSet NAME' to run this test: "
            "mongoeco, the default test server, has no replica-set support"
        )
    name = _replica_set_name(uri)
    server = MongoServer.external(uri)
    node = {"host": server.host, "port": server.port, "replica_set": name}
    params = {**mongo_connector_params(server), "nodes": [node], "replica_set_timeout": 60}
    first = MongoConnector(**params)
    try:
        assert first.queue_push("rs", b"x") is True
        assert first.queue_pop("rs") == b"x"
    finally:
        first.close()
    # a second connector finds the set already initiated
    with MongoConnector(**params) as second:
        assert second.queue_pop("rs") is None
    client: MongoClient[dict[str, object]] = MongoClient(
        server.host, server.port, directConnection=True
    )
    try:
        hello = client.admin.command("hello")
    finally:
        client.close()
    assert hello["setName"] == name
    assert hello["isWritablePrimary"] is True


def test_replica_set_on_a_standalone_server_says_how_to_start_it(
    mongo_server_factory: Callable[[], MongoServer],
) -> None:
    standalone = mongo_server_factory()  # mongoeco answers hello as a standalone server
    with pytest.raises(ConfigError) as caught:
        MongoConnector(
            nodes=[{"host": standalone.host, "port": standalone.port, "replica_set": "rs0"}]
        )
    message = str(caught.value)
    assert "nodes[0].replica_set" in message
    assert "mongod --replSet rs0" in message
    assert "remove replica_set" in message
