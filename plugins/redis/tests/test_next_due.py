"""The ``next_due`` hint: it spares scans, never hides a due item or an expired lease.

The reserve scripts skip their scans for due delayed items and expired leases
while the hint (``sergeant:queue:<name>:next_due``) says nothing falls due yet.
These tests prove the hint is kept at or before everything due that our calls
store, that it expires on its own (a drained queue leaves nothing), and that a
queue without it (as earlier versions left it) or written behind its back (as
an earlier version does during an upgrade) is still served.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import redis
from redis_helpers import items
from sergeant.connector import Connector
from sergeant.testing import wait_until
from sergeant_redis.connector import QUEUE_PREFIX
from sergeant_test_support.redis_fixtures import RedisServer

Connectors = Callable[..., Connector]


def client_of(server: RedisServer) -> redis.Redis:
    return redis.Redis(host=server.host, port=server.port, password=server.password)


def server_time(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return seconds + micros / 1_000_000


def hint_of(client: redis.Redis, queue: str) -> float | None:
    value = client.get(f"{QUEUE_PREFIX}{queue}:next_due")
    return None if value is None else float(value)


def test_a_scan_writes_a_hint_at_most_a_second_ahead_that_expires_at_its_time(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector, client = connectors([redis_server]), client_of(redis_server)
    queue = f"hint-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, items(2))
    before = server_time(client)
    assert len(connector.queue_reserve(queue, 1, 600)) == 1
    hint = hint_of(client, queue)
    assert hint is not None
    assert before < hint <= server_time(client) + 1
    assert 0 < client.pttl(f"{QUEUE_PREFIX}{queue}:next_due") <= 1001  # ms, rounded up


def test_a_drained_queue_leaves_not_even_its_hint(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector, client = connectors([redis_server]), client_of(redis_server)
    queue = f"hint-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, items(3))
    batch = connector.queue_reserve(queue, 3, 600)
    assert connector.queue_ack(queue, batch.receipts()) == 3
    assert client.keys(f"{QUEUE_PREFIX}{queue}:*") == [f"{QUEUE_PREFIX}{queue}:next_due".encode()]
    wait_until(
        lambda: client.keys(f"{QUEUE_PREFIX}{queue}:*") == [],
        timeout=30,
        message="the hint to expire",
    )


def test_storing_something_due_sooner_lowers_the_hint(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector, client = connectors([redis_server]), client_of(redis_server)
    queue = f"hint-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, items(10))
    # Each call below stores something due within 0.05 s: the hint follows it.
    calls = {
        "reserve": lambda: connector.queue_reserve(queue, 1, 0.05),
        "extend": lambda: connector.queue_extend(queue, long_lease.receipts(), 0.05),
        "release later": lambda: connector.queue_release(
            queue, other.receipts(), consumable_from=time.time() + 0.05
        ),
        "push later": lambda: connector.queue_push(
            queue, b"soon", consumable_from=time.time() + 0.05
        ),
    }
    long_lease = connector.queue_reserve(queue, 1, 600)
    other = connector.queue_reserve(queue, 1, 600)
    for name, call in calls.items():
        wait_until(lambda: hint_of(client, queue) is None, timeout=30, message="a fresh hint")
        connector.queue_reserve(queue, 1, 600)  # scans: a hint a second ahead at most
        hint = hint_of(client, queue)
        assert hint is not None, name
        call()
        now = server_time(client)
        lowered = hint_of(client, queue)
        assert lowered is not None, name
        assert lowered <= now + 0.05, name


def test_a_queue_without_a_hint_is_scanned(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    """As an earlier version leaves a queue: leases and delayed items, no hint."""
    connector, client = connectors([redis_server]), client_of(redis_server)
    queue = f"hint-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, items(1))
    connector.queue_push(queue, b"due-soon", consumable_from=time.time() + 0.2)
    assert len(connector.queue_reserve(queue, 1, 0.2)) == 1
    got: list[bytes] = []

    def both_back() -> bool:
        client.delete(f"{QUEUE_PREFIX}{queue}:next_due")
        batch = connector.queue_reserve(queue, 2, 600)
        got.extend(d.item for d in batch)
        return len(got) == 2

    wait_until(both_back, timeout=30, message="the expired lease and the due item")
    assert sorted(got) == [b"due-soon", items(1)[0]]


def test_an_item_stored_behind_the_hints_back_is_served_once_it_expires(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    """An earlier version's producer adds a delayed item due now without touching
    the hint: the hint expires within a second, then the item is handed out."""
    connector, client = connectors([redis_server]), client_of(redis_server)
    queue = f"hint-{uuid.uuid4().hex[:8]}"
    assert len(connector.queue_reserve(queue, 1, 600)) == 0  # writes the hint
    assert hint_of(client, queue) is not None
    member = b"%016x" % 1 + b"N0:behind"
    client.zadd(f"{QUEUE_PREFIX}{queue}:delayed", {member: server_time(client) - 1})
    got = wait_until(
        lambda: connector.queue_reserve(queue, 1, 600),
        timeout=30,
        message="the item stored behind the hint's back",
    )
    assert [d.item for d in got] == [b"behind"]
