"""Mongo node names: which node holds a key or a lock does not depend on how a host is spelt.

As for redis, rendezvous hashing keys on each node's ``name`` param, else its
position in ``nodes`` (never ``host:port`` as written), so connectors naming the
same servers ``localhost``, ``127.0.0.1`` or by uri pick the same node for every
name, and agree on the keys and locks they hold; named nodes agree in any order.
Names must be distinct, whether given or by position.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sergeant
from sergeant.errors import ConfigError
from sergeant_mongo import MongoConnector
from sergeant_test_support.mongo_fixtures import LIVE_TIMEOUT, MongoServer

COUNT = 40
Spelling = Callable[[MongoServer], dict[str, Any]]

SPELLINGS: dict[str, Spelling] = {
    "localhost": lambda s: {"host": "localhost", "port": s.port},
    "127.0.0.1": lambda s: {"host": "127.0.0.1", "port": s.port},
    "uri": lambda s: {"uri": f"mongodb://127.0.0.1:{s.port}/?directConnection=true"},
}


@pytest.fixture
def servers(mongo_server: MongoServer, mongo_server_2: MongoServer) -> list[MongoServer]:
    if mongo_server.uri is not None or mongo_server_2.uri is not None:
        pytest.skip("spells the test servers' hosts itself: needs the local mongoeco servers")
    return [mongo_server, mongo_server_2]


@pytest.fixture
def connect() -> Any:
    made: list[MongoConnector] = []

    def make(nodes: list[dict[str, Any]], database: str) -> MongoConnector:
        config = sergeant.config.Connector(
            type="mongo",
            params={"nodes": nodes, "database": database, "connect_timeout": LIVE_TIMEOUT},
        )
        connector = sergeant.connect(config)
        assert isinstance(connector, MongoConnector)
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


def owners(connector: MongoConnector, names: list[str], servers: list[MongoServer]) -> list[int]:
    """For each name, the index in ``servers`` of the node that holds it."""
    ports = [s.port for s in servers]
    return [ports.index(int(connector._owner(name).label.rsplit(":", 1)[1])) for name in names]


def fresh_names(count: int = COUNT) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [f"{tag}-{n}" for n in range(count)]


@pytest.mark.parametrize("other", ["127.0.0.1", "uri"])
def test_another_spelling_picks_the_same_node_and_finds_every_key_and_lock(
    other: str, servers: list[MongoServer], connect: Any
) -> None:
    database = f"names_{uuid.uuid4().hex[:10]}"
    first = connect([SPELLINGS["localhost"](s) for s in servers], database)
    second = connect([SPELLINGS[other](s) for s in servers], database)
    hashed = fresh_names(400)
    assert owners(first, hashed, servers) == owners(second, hashed, servers)
    assert set(owners(first, hashed, servers)) == {0, 1}, "both nodes hold some names"
    names = fresh_names()
    held = []  # a lock collected while held is released: keep them
    for name in names:
        assert first.key_set(name, name.encode()) is True
        lock = first.lock(name)
        assert lock.acquire(timeout=0, ttl=60) is True
        held.append(lock)
    assert [second.key_get(name) for name in names] == [name.encode() for name in names]
    both = [name for name in names if second.lock(name).acquire(timeout=0, ttl=5)]
    assert both == [], f"{len(both)} of {COUNT} locks held by both connectors"
    assert all(lock.is_locked() for lock in held)


def test_named_nodes_agree_in_any_order(servers: list[MongoServer], connect: Any) -> None:
    database = f"names_{uuid.uuid4().hex[:10]}"
    named = [{**SPELLINGS["localhost"](s), "name": f"node-{i}"} for i, s in enumerate(servers)]
    reordered = [{**SPELLINGS["127.0.0.1"](s), "name": f"node-{i}"} for i, s in enumerate(servers)]
    first = connect(named, database)
    second = connect(reordered[::-1], database)
    hashed = fresh_names(400)
    assert owners(first, hashed, servers) == owners(second, hashed, servers)


def test_unnamed_nodes_are_named_by_position(servers: list[MongoServer], connect: Any) -> None:
    """The documented rule: without names, processes list nodes in the same order;
    the other way round, every name maps to the other server."""
    database = f"names_{uuid.uuid4().hex[:10]}"
    first = connect([SPELLINGS["localhost"](s) for s in servers], database)
    second = connect([SPELLINGS["localhost"](s) for s in servers[::-1]], database)
    hashed = fresh_names(400)
    assert [1 - i for i in owners(first, hashed, servers)] == owners(second, hashed, servers)


@pytest.mark.parametrize(
    "nodes",
    [
        [{"host": "a", "name": "x"}, {"host": "b", "name": "x"}],
        [{"host": "a"}, {"host": "b", "name": "#0"}],
        [{"host": "a", "name": "#1"}, {"host": "b"}],
    ],
)
def test_two_nodes_named_alike_are_refused(nodes: list[dict[str, Any]]) -> None:
    with pytest.raises(ConfigError, match=r"nodes\[1\]\.name"):
        sergeant.config.Connector(type="mongo", params={"nodes": nodes})
