"""Node names: which node holds a key or a lock does not depend on how a host is spelt.

Rendezvous hashing keys on each node's ``name`` param, else on its position in
``nodes`` (``'#0'``, ``'#1'``...), never on the host as written, so connectors
spelling the same servers ``localhost``, ``127.0.0.1`` or as a url agree on
every key and lock; named nodes agree in any order; unnamed ones must be listed
in the same order (as Sergeant 0.27.0 required), and that rule is pinned here
too. Names must be distinct, whether given or by position.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
import sergeant
from sergeant.connector import Connector
from sergeant.errors import ConfigError
from sergeant.nodes import rendezvous
from sergeant_redis.connector import KEY_PREFIX, RedisConnector
from sergeant_redis.lock import LOCK_PREFIX
from sergeant_redis.params import node_names, parse_nodes
from sergeant_test_support.redis_fixtures import RedisServer

COUNT = 40
Spelling = Callable[[RedisServer], Any]

SPELLINGS: dict[str, Spelling] = {
    "localhost": lambda s: {"host": "localhost", "port": s.port},
    "127.0.0.1": lambda s: {"host": "127.0.0.1", "port": s.port},
    "url": lambda s: f"redis://127.0.0.1:{s.port}/0",
    "url, localhost": lambda s: {"url": f"redis://localhost:{s.port}"},
    "LOCALHOST": lambda s: {"host": "LOCALHOST", "port": s.port, "database": 0},
}


def connector(nodes: list[Any]) -> Connector:
    return sergeant.connect(sergeant.config.Connector(type="redis", params={"nodes": nodes}))


def holder(servers: list[RedisServer], key: str) -> list[int]:
    """The indexes of ``servers`` that hold ``key`` (raw redis, no hashing)."""
    return [i for i, s in enumerate(servers) if redis.Redis(port=s.port).exists(key)]


def names(count: int = COUNT) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [f"{tag}-{n}" for n in range(count)]


def write_keys_and_take_locks(writer: Connector, keys: list[str]) -> list[Any]:
    """Set each key and take each lock; the locks (keep them: one collected is released)."""
    held = []
    for name in keys:
        assert writer.key_set(name, name.encode()) is True
        lock = writer.lock(name)
        assert lock.acquire(timeout=0, ttl=60) is True
        held.append(lock)
    return held


@pytest.mark.parametrize("other", sorted(set(SPELLINGS) - {"localhost"}))
def test_another_spelling_finds_every_key_and_lock_where_they_are(
    other: str, redis_servers: list[RedisServer]
) -> None:
    first = connector([SPELLINGS["localhost"](s) for s in redis_servers])
    second = connector([SPELLINGS[other](s) for s in redis_servers])
    try:
        keys = names()
        held = write_keys_and_take_locks(first, keys)
        where = {name: holder(redis_servers, KEY_PREFIX + name) for name in keys}
        assert all(len(found) == 1 for found in where.values()), where
        assert {found[0] for found in where.values()} == {0, 1}, "both nodes hold some"
        for name in keys:
            assert second.key_get(name) == name.encode(), name
            assert second.lock(name).acquire(timeout=0) is False, f"{name} held by both"
            assert holder(redis_servers, LOCK_PREFIX + name) == where[name]
        for lock in held:
            lock.release()
        assert all(second.lock(name).acquire(timeout=0, ttl=5) for name in keys)
    finally:
        first.close()
        second.close()


def test_named_nodes_agree_in_any_order_and_spelling(redis_servers: list[RedisServer]) -> None:
    first = connector(
        [{**SPELLINGS["localhost"](s), "name": f"node-{i}"} for i, s in enumerate(redis_servers)]
    )
    reordered = list(enumerate(redis_servers))[::-1]
    second = connector(
        [{"url": f"redis://127.0.0.1:{s.port}/0", "name": f"node-{i}"} for i, s in reordered]
    )
    try:
        keys = names()
        held = write_keys_and_take_locks(first, keys)  # a lock collected is released
        assert all(second.key_get(name) == name.encode() for name in keys)
        assert not any(second.lock(name).acquire(timeout=0) for name in keys)
        assert all(lock.is_locked() for lock in held)
    finally:
        first.close()
        second.close()


def test_unnamed_nodes_are_named_by_position_so_the_order_matters(
    redis_servers: list[RedisServer],
) -> None:
    """The documented rule: without names, processes must list nodes in the same
    order. Listed the other way round, every key is looked for on the other node."""
    first = connector([SPELLINGS["localhost"](s) for s in redis_servers])
    second = connector([SPELLINGS["localhost"](s) for s in redis_servers[::-1]])
    try:
        keys = names()
        write_keys_and_take_locks(first, keys)
        assert [second.key_get(name) for name in keys] == [None] * len(keys)
    finally:
        first.close()
        second.close()


def test_default_names_are_positions_and_given_names_are_kept() -> None:
    nodes = parse_nodes({"nodes": [{"host": "a"}, {"host": "b", "name": "blue"}, "redis://c"]})
    assert node_names(nodes) == ("#0", "blue", "#2")


def test_keys_of_unnamed_nodes_live_where_rendezvous_over_their_positions_puts_them(
    redis_servers: list[RedisServer],
) -> None:
    """The placement rule of :mod:`sergeant.nodes`, on the servers themselves: a key
    set through the connector is on the node ``rendezvous(('#0', '#1'), key)`` picks."""
    writer = RedisConnector(nodes=[SPELLINGS["localhost"](s) for s in redis_servers])
    try:
        keys = names()
        for name in keys:
            writer.key_set(name, b"v")
        expected = {name: [rendezvous(("#0", "#1"), name)] for name in keys}
        assert {name: holder(redis_servers, KEY_PREFIX + name) for name in keys} == expected
        assert {found[0] for found in expected.values()} == {0, 1}, "both nodes hold some"
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("nodes", "field"),
    [
        ([{"host": "a", "name": "x"}, {"host": "b", "name": "x"}], r"nodes\[1\]\.name"),
        ([{"host": "a"}, {"host": "b", "name": "#0"}], r"nodes\[1\]\.name"),
        ([{"host": "a", "name": "#1"}, {"host": "b"}], r"nodes\[1\]\.name"),
        (
            [{"url": "redis://a", "name": "x"}, {"url": "redis://b", "name": "x"}],
            r"nodes\[1\]\.name",
        ),
    ],
)
def test_two_nodes_named_alike_are_refused(nodes: list[Any], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        sergeant.config.Connector(type="redis", params={"nodes": nodes})


def test_a_name_must_be_a_string() -> None:
    with pytest.raises(ConfigError, match=r"nodes\[0\]\.name"):
        sergeant.config.Connector(type="redis", params={"nodes": [{"host": "a", "name": 7}]})
