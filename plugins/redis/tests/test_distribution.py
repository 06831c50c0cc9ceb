"""Several nodes: pushes spread, pops drain all, keys and locks stay put per name."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import redis
import sergeant
import sergeant.config
from sergeant.connector import Connector
from sergeant.nodes import rendezvous
from sergeant.testing import wait_until
from sergeant_redis.connector import KEY_PREFIX, QUEUE_PREFIX
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
    redis_servers: list[RedisServer],
) -> None:
    """Named nodes hash by name: a process listing them in another order agrees."""

    def named(order: list[int]) -> Connector:
        nodes = [{**redis_servers[i].node(), "name": f"node-{i}"} for i in order]
        return sergeant.connect(sergeant.config.Connector(type="redis", params={"nodes": nodes}))

    first, second = named([0, 1]), named([1, 0])
    try:
        tag = uuid.uuid4().hex[:8]
        names = [f"{tag}-{i}" for i in range(40)]
        held = []  # a lock collected while held is released, as Sergeant's is
        for name in names:
            assert first.key_set(name, name.encode()) is True
            held.append(first.lock(name))
            assert held[-1].acquire(timeout=0, ttl=30) is True
        holders = {
            name: [i for i, s in enumerate(redis_servers) if raw(s).exists(KEY_PREFIX + name)]
            for name in names
        }
        assert all(len(found) == 1 for found in holders.values()), holders
        assert {found[0] for found in holders.values()} == {0, 1}, "both nodes hold keys"
        for name in names:
            assert second.key_get(name) == name.encode()
            assert second.lock(name).is_locked() is True
            owner = redis_servers[holders[name][0]]
            assert raw(owner).exists(LOCK_PREFIX + name) == 1
            assert second.key_delete(name) is True
    finally:
        first.close()
        second.close()


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


def test_ack_and_reserve_on_two_nodes(
    redis_servers: list[RedisServer], connectors: Connectors
) -> None:
    connector = connectors(redis_servers)
    queue = f"combined-{uuid.uuid4().hex[:8]}"
    on = [single(server, connectors) for server in redis_servers]
    on[0].queue_push_bulk(queue, [b"a1", b"a2", b"a3"])
    on[1].queue_push_bulk(queue, [b"b1", b"b2"])
    first = connector.queue_reserve(queue, 5, 30)
    assert sorted(d.item for d in first) == [b"a1", b"a2", b"a3", b"b1", b"b2"]
    on[0].queue_push_bulk(queue, [b"a4"])
    on[1].queue_push_bulk(queue, [b"b3", b"b4"])
    # Acks for both nodes; the node with most receipts (a) has one item, so the
    # reserve goes on to b.
    acked, second = connector.queue_ack_and_reserve(queue, [d.receipt for d in first], 3, 30)
    assert acked == 5
    assert sorted(d.item for d in second) == [b"a4", b"b3", b"b4"]
    assert connector.queue_ack(queue, [d.receipt for d in first]) == 0
    acked, third = connector.queue_ack_and_reserve(queue, [d.receipt for d in second], 3, 30)
    assert (acked, third) == (3, [])
    assert [row.in_flight for row in connector.queue_stats(queue)] == [0, 0]


def test_ack_and_reserve_is_one_script_call_on_one_node(
    redis_server_factory: Callable[..., RedisServer], connectors: Connectors
) -> None:
    server = redis_server_factory()
    connector = connectors([server])
    queue = f"one-call-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, [b"x"] * 30)
    _, batch = connector.queue_ack_and_reserve(queue, [], 10, 30)  # loads the scripts
    _, batch = connector.queue_ack_and_reserve(queue, [d.receipt for d in batch], 10, 30)
    server.command("CONFIG", "RESETSTAT")
    acked, batch = connector.queue_ack_and_reserve(queue, [d.receipt for d in batch], 10, 30)
    assert (acked, len(batch)) == (10, 10)
    stats = raw(server).info("commandstats")  # commands run by scripts count too
    assert stats["cmdstat_evalsha"]["calls"] == 1
    assert "cmdstat_eval" not in stats


def test_a_busy_node_does_not_starve_the_other(
    redis_servers: list[RedisServer], connectors: Connectors
) -> None:
    connector = connectors(redis_servers)
    queue = f"fair-{uuid.uuid4().hex[:8]}"
    busy, other = (single(server, connectors) for server in redis_servers)
    busy.queue_push_bulk(queue, [b"busy"] * 50)
    receipts = [d.receipt for d in connector.queue_reserve(queue, 10, 30)]  # all from busy
    other.queue_push_bulk(queue, [f"other-{i}".encode() for i in range(5)])
    seen: list[bytes] = []

    def work() -> bool:
        nonlocal receipts
        busy.queue_push_bulk(queue, [b"busy"] * 10)  # the busy node never runs dry
        _, batch = connector.queue_ack_and_reserve(queue, receipts, 10, 30)
        receipts = [d.receipt for d in batch]
        seen.extend(d.item for d in batch if d.item != b"busy")
        return len(seen) == 5

    wait_until(work, timeout=20, interval=0.01, message="the other node's items to be reserved")
    assert sorted(seen) == [f"other-{i}".encode() for i in range(5)]
