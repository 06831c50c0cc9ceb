"""Leases per reserve call: partial acks, partial extends, reclaims, counts and cleanup."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

import pytest
import redis
from redis_helpers import items
from sergeant.connector import Batch, Connector
from sergeant.errors import AuthenticationError, StorageError
from sergeant.testing import wait_until
from sergeant_redis import receipts as receipts_module
from sergeant_redis import scripts
from sergeant_redis.connector import QUEUE_PREFIX
from sergeant_redis.permissions import PROBE_KEY_PREFIX, PROBED
from sergeant_test_support.redis_fixtures import RedisServer

Connectors = Callable[..., Connector]
SHORT = 0.6  # seconds: a lease the tests let run out


def keys_of(server: RedisServer, queue: str, hint: bool = False) -> list[bytes]:
    """The queue's keys on the server; without ``hint``, not its ``next_due``
    hint, which expires on its own within a second (proved below)."""
    client = redis.Redis(host=server.host, port=server.port, password=server.password)
    try:
        keys = client.scan_iter(match=f"{QUEUE_PREFIX}{queue}:*", count=1000)
        return sorted(key for key in keys if hint or not key.endswith(b":next_due"))
    finally:
        client.close()


def reserve_when_ready(connector: Connector, queue: str, count: int) -> list[tuple[bytes, int]]:
    got = wait_until(
        lambda: connector.queue_reserve(queue, count, 30),
        timeout=20,
        message="expired leases to be handed out again",
    )
    return [(d.item, d.deliveries) for d in got]


def test_partial_acks_then_expiry_hand_out_only_the_rest(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector = connectors([redis_server])
    queue = f"partial-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, items(10))
    batch = connector.queue_reserve(queue, 10, SHORT)
    assert connector.queue_ack(queue, [d.receipt for d in batch[::2]]) == 5
    assert connector.queue_ack(queue, [d.receipt for d in batch[::2]]) == 0, "acked once only"
    assert [row.in_flight for row in connector.queue_stats(queue)] == [5]
    again = reserve_when_ready(connector, queue, 10)
    assert again == [(item, 2) for item in items(10)[1::2]], "the unacked ones, in order"
    assert connector.queue_ack(queue, [d.receipt for d in batch[1::2]]) == 0, "expired"


def test_a_batch_is_held_in_one_list_and_goes_with_its_last_item(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector = connectors([redis_server])
    queue = f"layout-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, items(300))
    batch = connector.queue_reserve(queue, 300, 60)
    client = redis.Redis(host=redis_server.host, port=redis_server.port)
    token = batch[0].receipt.split(":")[1]
    held = f"{QUEUE_PREFIX}{queue}:leases:{token}"
    assert client.type(held) == b"list"
    assert client.lrange(held, 0, -1) == items(300)
    assert connector.queue_ack(queue, [d.receipt for d in batch[:100]]) == 100
    assert client.scard(f"{held}:gone") == 100
    assert [row.in_flight for row in connector.queue_stats(queue)] == [200]
    assert connector.queue_ack(queue, [d.receipt for d in batch[100:]]) == 200
    assert keys_of(redis_server, queue) == []
    client.close()


def test_receipts_naming_no_item_of_their_batch_ack_nothing(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector = connectors([redis_server])
    queue = f"numbers-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, items(3))
    batch = connector.queue_reserve(queue, 3, 60)
    head = batch[0].receipt.rpartition(":")[0]
    odd = [f"{head}:{n}" for n in ("01", "1.0", "0", "4", "-1", "0x1", "1e0", " 1")]
    assert connector.queue_ack(queue, odd) == 0
    assert connector.queue_release(queue, odd) == 0
    assert connector.queue_extend(queue, odd, 60) == 0
    assert [row.in_flight for row in connector.queue_stats(queue)] == [3]
    assert connector.queue_ack(queue, [d.receipt for d in batch]) == 3
    assert keys_of(redis_server, queue) == []


def test_extending_some_receipts_of_a_batch_keeps_only_those(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector = connectors([redis_server])
    queue = f"split-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, items(8))
    batch = connector.queue_reserve(queue, 8, SHORT)
    kept, left = batch[:3], batch[3:]
    assert connector.queue_extend(queue, [d.receipt for d in kept], 60) == 3
    # Extending again (a receipt twice, an unknown one) renews that lease whole.
    receipts = [kept[0].receipt, kept[0].receipt, kept[1].receipt, kept[2].receipt + "0"]
    assert connector.queue_extend(queue, receipts, 60) == 2
    assert connector.queue_ack(queue, [left[1].receipt]) == 1
    again = reserve_when_ready(connector, queue, 10)
    assert again == [(d.item, 2) for d in left[:1] + left[2:]]
    assert connector.queue_reserve(queue, 10, 30) == [], "the extended items are still held"
    stats = connector.queue_stats(queue)
    assert [(row.ready, row.in_flight) for row in stats] == [(0, 3 + len(again))]
    assert connector.queue_ack(queue, [d.receipt for d in left]) == 0
    assert connector.queue_ack(queue, [d.receipt for d in kept]) == 3
    assert connector.queue_release(queue, [d.receipt for d in kept]) == 0
    assert [row.in_flight for row in connector.queue_stats(queue)] == [len(again)]


def test_extend_release_and_ack_across_split_leases(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector = connectors([redis_server])
    queue = f"splits-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, items(6))
    batch = connector.queue_reserve(queue, 6, 60)
    receipts = [d.receipt for d in batch]
    assert connector.queue_extend(queue, receipts[:2], 60) == 2  # split 1: items 0, 1
    assert connector.queue_extend(queue, receipts[1:4], 60) == 3  # 1 from split 1, 2 and 3
    assert connector.queue_extend(queue, receipts, 60) == 6  # every group, whole
    assert connector.queue_release(queue, [receipts[1], receipts[4]]) == 2
    assert connector.queue_ack(queue, receipts) == 4
    assert connector.queue_length(queue) == 2
    again = connector.queue_reserve(queue, 10, 30)
    assert [(d.item, d.deliveries) for d in again] == [(items(6)[1], 2), (items(6)[4], 2)]
    assert connector.queue_ack(queue, [d.receipt for d in again]) == 2
    assert keys_of(redis_server, queue) == [], "no lease, group or meta left behind"


def test_a_batch_from_every_list_keeps_priorities_and_counts(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector = connectors([redis_server])
    queue = f"mixed-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, [b"high-retry", b"high-x"], priority="HIGH")
    connector.queue_push_bulk(queue, [b"normal-retry", b"normal-x"])
    first = connector.queue_reserve(queue, 4, 30)
    assert [d.item for d in first] == [b"high-retry", b"high-x", b"normal-retry", b"normal-x"]
    assert connector.queue_release(queue, [first[0].receipt, first[2].receipt]) == 2
    assert connector.queue_ack(queue, [first[1].receipt, first[3].receipt]) == 2
    connector.queue_push(queue, b"high-fresh", priority="HIGH")
    connector.queue_push(queue, b"normal-fresh")
    batch = connector.queue_reserve(queue, 10, SHORT)
    assert [(d.item, d.deliveries) for d in batch] == [
        (b"high-retry", 2),
        (b"high-fresh", 1),
        (b"normal-retry", 2),
        (b"normal-fresh", 1),
    ]
    assert connector.queue_release(queue, [batch[3].receipt], consumable_from=time.time() + 60)
    assert connector.queue_length(queue, include_delayed=True) == 1
    again = reserve_when_ready(connector, queue, 10)
    assert again == [(b"high-retry", 3), (b"high-fresh", 2), (b"normal-retry", 3)]


def test_counts_are_items_not_leases(redis_server: RedisServer, connectors: Connectors) -> None:
    connector = connectors([redis_server])
    queue = f"counts-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, items(10))
    connector.queue_reserve(queue, 3, 60)
    expiring = connector.queue_reserve(queue, 5, SHORT)
    assert [(r.ready, r.in_flight) for r in connector.queue_stats(queue)] == [(2, 8)]
    assert connector.queue_ack(queue, [expiring[0].receipt]) == 1
    wait_until(
        lambda: connector.queue_length(queue) == 2 + 4,
        timeout=20,
        message="the expired lease's items to count as ready",
    )
    assert [(r.ready, r.in_flight) for r in connector.queue_stats(queue)] == [(6, 3)]
    assert connector.queue_delete(queue) is True
    assert keys_of(redis_server, queue) == []


def test_delete_leaves_nothing_behind(redis_server: RedisServer, connectors: Connectors) -> None:
    connector = connectors([redis_server])
    queue = f"gone-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, items(5), priority="HIGH")
    connector.queue_push_bulk(queue, items(5, "later"), consumable_from=time.time() + 60)
    batch = connector.queue_reserve(queue, 4, 60)
    connector.queue_extend(queue, [batch[0].receipt], 60)
    connector.queue_release(queue, [batch[1].receipt], consumable_from=time.time() + 60)
    assert keys_of(redis_server, queue), "the queue has keys"
    assert f"{QUEUE_PREFIX}{queue}:next_due".encode() in keys_of(redis_server, queue, hint=True)
    assert connector.queue_delete(queue) is True
    assert keys_of(redis_server, queue, hint=True) == []
    assert connector.queue_ack(queue, [d.receipt for d in batch]) == 0


def test_a_user_limited_to_sergeant_keys_can_do_everything(
    redis_server_factory: Callable[..., RedisServer], connectors: Connectors
) -> None:
    server = redis_server_factory(
        extra_config=["user default off", "user app on >app-secret ~sergeant:* +@all"]
    )
    connector = connectors([server], username="app", password="app-secret")
    queue = f"acl-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, items(6))
    connector.queue_push(queue, b"later", priority="HIGH", consumable_from=time.time() + 0.2)
    batch = connector.queue_reserve(queue, 4, SHORT)
    assert connector.queue_extend(queue, [batch[0].receipt], 60) == 1
    assert connector.queue_release(queue, [batch[1].receipt]) == 1
    acked, more = connector.queue_ack_and_reserve(queue, [batch[2].receipt], 2, 60)
    assert acked == 1
    assert [(d.item, d.deliveries) for d in more] == [(batch[1].item, 2), (b"item-004", 1)]
    got = wait_until(
        lambda: connector.queue_pop_bulk(queue, 10) if connector.queue_length(queue) >= 3 else [],
        timeout=20,
        message="the delayed item and the expired lease to be ready",
    )
    assert sorted(got) == [batch[3].item, b"item-005", b"later"]
    assert [row.in_flight for row in connector.queue_stats(queue)] == [3]
    assert connector.key_set(f"k-{queue}", b"v") is True
    lock = connector.lock(f"l-{queue}")
    assert lock.acquire(timeout=0, ttl=10) is True
    assert lock.release() is True
    assert connector.queue_delete(queue) is True
    assert connector.queue_length(queue, include_delayed=True) == 0


def test_a_user_missing_a_command_gets_a_storage_error_that_says_what_to_grant(
    redis_server_factory: Callable[..., RedisServer], connectors: Connectors
) -> None:
    server = redis_server_factory(
        extra_config=[
            "user default off",
            "user admin on >admin-secret ~* +@all",
            "user app on >app-secret ~sergeant:* +@all -hset",
        ]
    )
    queue = f"acl-{uuid.uuid4().hex[:8]}"
    admin = connectors([server], username="admin", password="admin-secret")
    admin.queue_push_bulk(queue, items(3))
    connector = connectors([server], username="app", password="app-secret")
    with pytest.raises(StorageError) as raised:
        connector.queue_reserve(queue, 2, SHORT)
    assert not isinstance(raised.value, AuthenticationError)
    message = str(raised.value)
    assert "may not run HSET," in message
    assert "nodes[0].username" in message
    assert "A least-privilege ACL user" in message
    assert "app-secret" not in message
    assert admin.queue_length(queue) == 3, "the refused reserve took nothing"


def test_the_permission_probe_tries_every_command_the_scripts_call() -> None:
    called: set[str] = set()
    for script in vars(scripts).values():
        if isinstance(script, scripts.Script):
            called |= set(re.findall(r"(?:call|slices)\('([A-Z]+)'", script.source))
    assert {"HSET", "ZRANGEBYSCORE"} <= called, "the pattern finds the calls"
    assert called - PROBED == set()


def test_the_permission_probe_leaves_no_key_behind(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector = connectors([redis_server])
    connector.queue_push(f"probe-{uuid.uuid4().hex[:8]}", b"x", consumable_from=time.time() + 60)
    client = redis.Redis(host=redis_server.host, port=redis_server.port)
    assert list(client.scan_iter(match=f"{PROBE_KEY_PREFIX}*")) == []


def test_acking_a_batch_by_its_own_receipts_parses_none_and_other_lists_still_parse(
    redis_server: RedisServer, connectors: Connectors, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = connectors([redis_server])
    queue = f"handle-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, items(9))
    first, second, third = (connector.queue_reserve(queue, 3, 60) for _ in range(3))
    parsed: list[str] = []
    real = receipts_module._numbers_of
    monkeypatch.setattr(
        receipts_module,
        "_numbers_of",
        lambda head, *rest: parsed.append(head) or real(head, *rest),
    )
    assert isinstance(first, Batch)
    assert connector.queue_ack(queue, second.receipts()) == 3
    assert connector.queue_ack(queue, third.receipts()) == 3
    assert parsed == [], "a batch acked by its own receipts needs no parsing"
    assert connector.queue_ack(queue, [d.receipt for d in first]) == 3
    assert len(parsed) == 1, "a plain list of receipts is parsed"
    assert connector.queue_ack(queue, second.receipts()) == 0
    assert connector.queue_length(queue, include_delayed=True) == 0


def test_a_batch_changed_after_its_reserve_acks_only_the_receipts_it_still_holds(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector = connectors([redis_server])
    queue = f"changed-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, items(5))
    batch = connector.queue_reserve(queue, 5, 60)
    kept_out = batch.pop(2)
    assert connector.queue_ack(queue, batch.receipts()) == 4
    assert [row.in_flight for row in connector.queue_stats(queue)] == [1]
    assert connector.queue_release(queue, [kept_out.receipt]) == 1
    assert connector.queue_pop_bulk(queue, 5) == [kept_out.item]


@pytest.mark.parametrize(
    ("before", "acked"),
    [
        ("nothing", 5),
        ("extend items 2 and 4 (split off)", 5),
        ("ack item 1", 4),
        ("release item 3", 4),
        ("let the lease run out", 0),
    ],
)
@pytest.mark.parametrize("by_handle", [True, False], ids=["batch.receipts()", "plain list"])
def test_acking_a_whole_batch_counts_what_was_still_held(
    redis_server: RedisServer, connectors: Connectors, before: str, acked: int, by_handle: bool
) -> None:
    connector = connectors([redis_server])
    queue = f"whole-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, items(5))
    lease = SHORT if before.startswith("let") else 60
    batch = connector.queue_reserve(queue, 5, lease)
    receipts = [d.receipt for d in batch]
    if before.startswith("extend"):
        assert connector.queue_extend(queue, [receipts[1], receipts[3]], 60) == 2
    elif before.startswith("ack"):
        assert connector.queue_ack(queue, [receipts[0]]) == 1
    elif before.startswith("release"):
        assert connector.queue_release(queue, [receipts[2]]) == 1
    elif before.startswith("let"):
        wait_until(
            lambda: connector.queue_length(queue) == 5,
            timeout=20,
            message="the lease to run out and its items to count as ready",
        )
    whole = batch.receipts() if by_handle else receipts
    assert connector.queue_ack(queue, whole) == acked
    assert connector.queue_ack(queue, whole) == 0
    left = 5 - acked - (1 if before.startswith("ack") else 0)
    assert connector.queue_length(queue) == left
    assert [row.in_flight for row in connector.queue_stats(queue)] == [0]
    connector.queue_pop_bulk(queue, 10)
    assert keys_of(redis_server, queue) == []


def test_a_batch_from_more_nodes_acks_on_fewer_as_its_receipts_would(
    redis_servers: list[RedisServer], connectors: Connectors
) -> None:
    both, first = connectors(redis_servers), connectors(redis_servers[:1])
    queue = f"fewer-{uuid.uuid4().hex[:8]}"
    for server in redis_servers:
        connectors([server]).queue_push_bulk(queue, items(3))
    batch = both.queue_reserve(queue, 6, 60)
    on_first = sum(d.receipt.startswith("0:") for d in batch)
    assert (len(batch), on_first) == (6, 3)
    # nodes[1] is not one of this connector's: its receipts count as not acked
    assert first.queue_ack(queue, batch.receipts()) == on_first
    assert first.queue_ack_and_reserve(queue, batch.receipts(), 1, 60) == (0, [])
    assert both.queue_ack(queue, batch.receipts()) == 3
    assert both.queue_length(queue, include_delayed=True) == 0
