"""``queue_peek`` on redis: ready items in hand-out order, left in place.

Proves that a peek lists HIGH before NORMAL and put-back items before fresh
ones (as a reserve hands them out), includes due delayed items and items whose
lease ran out, leaves out delayed and leased ones, counts no delivery, removes
nothing, honours its count, and on two nodes reads both.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable

from redis_helpers import items
from sergeant.connector import Connector
from sergeant.testing import wait_until
from sergeant_test_support.redis_fixtures import RedisServer

Connectors = Callable[..., Connector]


def test_peek_lists_ready_items_in_hand_out_order_and_takes_nothing(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector = connectors([redis_server])
    queue = f"peek-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, items(3, "normal"))
    connector.queue_push_bulk(queue, items(2, "high"), priority="HIGH")
    connector.queue_push(queue, b"later", consumable_from=time.time() + 600)
    (first,) = connector.queue_reserve(queue, 1, 60)
    assert first.item == b"high-000"
    (held,) = connector.queue_reserve(queue, 1, 60)
    assert connector.queue_release(queue, [first.receipt]) == 1
    expected = [b"high-000", *items(3, "normal")]
    assert connector.queue_peek(queue, 10) == expected
    assert connector.queue_peek(queue, 2) == expected[:2]
    assert connector.queue_peek(queue, 10) == expected, "peeking twice sees the same"
    assert connector.queue_length(queue, include_delayed=True) == 5
    got = connector.queue_reserve(queue, 10, 60)
    assert [(d.item, d.deliveries) for d in got] == [
        (b"high-000", 2),
        *((item, 1) for item in expected[1:]),
    ], "in the order peeked, and the peeks counted no delivery"
    assert held.item == b"high-001"
    assert connector.queue_peek(queue, 10) == []


def test_peek_includes_due_delayed_items_and_items_whose_lease_ran_out(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector = connectors([redis_server])
    queue = f"peek-due-{uuid.uuid4().hex[:8]}"
    connector.queue_push(queue, b"leased")
    assert [d.item for d in connector.queue_reserve(queue, 1, 0.5)] == [b"leased"]
    connector.queue_push(queue, b"soon", priority="HIGH", consumable_from=time.time() + 0.3)
    assert connector.queue_peek(queue, 10) == []
    wait_until(
        lambda: len(connector.queue_peek(queue, 10)) == 2,
        timeout=30,
        message="the delayed item to be due and the lease to run out",
    )
    assert connector.queue_peek(queue, 10) == [b"soon", b"leased"]
    got = connector.queue_reserve(queue, 10, 60)
    assert [(d.item, d.deliveries) for d in got] == [(b"soon", 1), (b"leased", 2)]


def test_peek_on_two_nodes_reads_both_in_the_order_a_reserve_visits_them(
    redis_servers: list[RedisServer], connectors: Connectors
) -> None:
    connector = connectors(redis_servers)
    queue = f"peek-nodes-{uuid.uuid4().hex[:8]}"
    pushed = items(40)
    for item in pushed:
        connector.queue_push(queue, item)
    peeked = connector.queue_peek(queue, 100)
    assert sorted(peeked) == pushed
    assert connector.queue_length(queue) == 40
    # one node's items in push order, then the other's: one step back at most
    assert sum(1 for a, b in itertools.pairwise(peeked) if a > b) <= 1
    part = connector.queue_peek(queue, 25)
    assert len(part) == 25
    assert set(part) <= set(pushed)
    got = connector.queue_reserve(queue, 100, 60)
    assert sorted(d.item for d in got) == pushed
    assert all(d.deliveries == 1 for d in got), "peeking counted no delivery"
