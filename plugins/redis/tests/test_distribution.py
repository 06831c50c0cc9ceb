"""Several nodes: pushes spread, pops drain all, keys and locks stay put per name."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import redis
from sergeant.connector import Connector
from sergeant_redis.connector import KEY_PREFIX, QUEUE_PREFIX
from sergeant_redis.hashing import rendezvous
from sergeant_redis.lock import LOCK_PREFIX
from sergeant_test_support.redis_fixtures import RedisServer

Connectors = Callable[..., Connector]


def raw(server: RedisServer) -> redis.Redis:
    return redis.Redis(host=server.host, port=server.port, password=server.password)


def test_pushes_land_on_both_nodes_and_pops_drain_both(
    redis_servers: list[RedisServer], connectors: Connectors
) -> None:
    connector = connectors(redis_servers)
    queue = f"spread-{uuid.uuid4().hex[:8]}"
    items = [f"item-{i:04d}".encode() for i in range(1000)]
    for item in items:
        connector.queue_push(queue, item)
    per_node = [raw(s).llen(f"{QUEUE_PREFIX}{queue}:normal") for s in redis_servers]
    assert sum(per_node) == 1000
    assert all(count >= 400 for count in per_node), per_node
    assert connector.queue_length(queue) == 1000
    got = connector.queue_pop_bulk(queue, 600)
    got += [item for item in iter(lambda: connector.queue_pop(queue), None) if item]
    assert sorted(got) == items
    assert [raw(s).exists(f"{QUEUE_PREFIX}{queue}:normal") for s in redis_servers] == [0, 0]


def test_high_before_normal_on_each_node(
    redis_servers: list[RedisServer], connectors: Connectors
) -> None:
    connector = connectors(redis_servers)
    queue = f"prio-{uuid.uuid4().hex[:8]}"
    normal = [f"normal-{i}".encode() for i in range(10)]
    high = [f"high-{i}".encode() for i in range(10)]
    for item in normal:
        connector.queue_push(queue, item)
    for item in high:
        connector.queue_push(queue, item, priority="HIGH")
    first = [connector.queue_pop(queue) for _ in range(10)]
    assert sorted(x for x in first if x) == sorted(high)
    assert sorted(connector.queue_pop_bulk(queue, 100)) == sorted(normal)


def test_stats_name_each_node(redis_servers: list[RedisServer], connectors: Connectors) -> None:
    connector = connectors(redis_servers)
    queue = f"stats-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, [b"a"] * 3)
    connector.queue_push_bulk(queue, [b"b"] * 4)
    stats = connector.queue_stats(queue)
    assert sorted(row.node for row in stats) == sorted(s.address for s in redis_servers)
    assert sorted(row.ready for row in stats) == [3, 4]
    assert connector.queue_delete(queue) is True


def test_keys_and_locks_stable_per_name_across_connectors(
    redis_servers: list[RedisServer], connectors: Connectors
) -> None:
    first, second = connectors(redis_servers), connectors(list(reversed(redis_servers)))
    tag = uuid.uuid4().hex[:8]
    names = [f"{tag}-{i}" for i in range(40)]
    for name in names:
        assert first.key_set(name, name.encode()) is True
        assert first.lock(name).acquire(timeout=0, ttl=30) is True
    holders = {
        name: [i for i, s in enumerate(redis_servers) if raw(s).exists(KEY_PREFIX + name)]
        for name in names
    }
    assert all(len(found) == 1 for found in holders.values()), holders
    assert {found[0] for found in holders.values()} == {0, 1}, "both nodes hold keys"
    for name in names:
        # The second connector lists the nodes in the other order: same owner anyway.
        assert second.key_get(name) == name.encode()
        assert second.lock(name).is_locked() is True
        owner = redis_servers[holders[name][0]]
        assert raw(owner).exists(LOCK_PREFIX + name) == 1
        assert second.key_delete(name) is True


def test_adding_a_node_moves_about_a_third_of_the_names() -> None:
    two = ["10.0.0.1:6379/0", "10.0.0.2:6379/0"]
    three = [*two, "10.0.0.3:6379/0"]
    names = [f"key-{i}" for i in range(3000)]
    moved = [n for n in names if two[rendezvous(two, n)] != three[rendezvous(three, n)]]
    assert all(three[rendezvous(three, n)] == three[2] for n in moved), "only to the new node"
    assert 0.28 < len(moved) / len(names) < 0.39
    shares = [sum(rendezvous(two, n) == i for n in names) / len(names) for i in (0, 1)]
    assert all(0.45 < share < 0.55 for share in shares), shares


def single(server: RedisServer, connectors: Connectors) -> Connector:
    """A connector on one node only: puts items exactly there."""
    return connectors([server])


def test_an_empty_node_is_still_visited_before_answering_empty(
    redis_servers: list[RedisServer], connectors: Connectors
) -> None:
    connector = connectors(redis_servers)
    queue = f"hint-{uuid.uuid4().hex[:8]}"
    assert connector.queue_pop(queue) is None  # both nodes found empty just now
    assert connector.queue_reserve(queue, 5, 30) == []
    for server in redis_servers:
        single(server, connectors).queue_push(queue, server.address.encode())
        assert connector.queue_pop(queue) == server.address.encode()
        single(server, connectors).queue_push(queue, b"reserved")
        assert [d.item for d in connector.queue_reserve(queue, 5, 30)] == [b"reserved"]
        single(server, connectors).queue_push_bulk(queue, [b"bulk"] * 40)
        assert connector.queue_pop_bulk(queue, 100) == [b"bulk"] * 40
