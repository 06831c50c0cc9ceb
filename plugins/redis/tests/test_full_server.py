"""A Redis server at ``maxmemory`` with ``noeviction`` (the policy a queue needs).

The usual way there: workers are down while producers keep pushing. The server
then refuses every write that needs memory. Pushes must fail with an error that
says so, a bulk push must say how much of it was stored, and the workers, once
back, must be able to drain the queue (reserve, ack, release, extend, pop): if
they could not, the server would stay full for good.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from sergeant.connector import Connector
from sergeant.errors import ConnectorUnavailableError, PartialPushError, StorageError
from sergeant_redis.connector import PUSH_CHUNK
from sergeant_redis.node import BACKOFF
from sergeant_test_support.redis_fixtures import RedisServer

FULL = ("maxmemory 3mb", "maxmemory-policy noeviction")
PAYLOAD = 100


def fill(connector: Connector, queue: str) -> tuple[list[bytes], StorageError]:
    """Push chunks of 1,000 items until the server refuses one: what it stored, and the refusal."""
    stored: list[bytes] = []
    for chunk in range(10_000):
        items = [b"%08d" % (chunk * 1000 + i) + b"x" * PAYLOAD for i in range(1000)]
        try:
            connector.queue_push_bulk(queue, items)
        except StorageError as exc:
            return stored, exc
        stored.extend(items)
    raise AssertionError("the server never filled up")


def test_workers_drain_a_full_server(
    redis_server_factory: Callable[..., RedisServer],
    connectors: Callable[..., Connector],
) -> None:
    connector = connectors([redis_server_factory(extra_config=FULL)])
    stored, refusal = fill(connector, "q")
    assert "is full" in str(refusal)
    assert "maxmemory" in str(refusal)
    assert not isinstance(refusal, PartialPushError), "1,000 items are one slice"

    # Released, extended and popped while full; then everything else drained.
    held = connector.queue_reserve("q", 10, 30.0)
    assert connector.queue_extend("q", [d.receipt for d in held[:5]], 60.0) == 5
    assert connector.queue_release("q", [d.receipt for d in held]) == 10
    got = [connector.queue_pop("q")]
    while True:
        batch = connector.queue_reserve("q", 500, 30.0)
        if not batch:
            break
        got.extend(d.item for d in batch)
        assert connector.queue_ack("q", [d.receipt for d in batch]) == len(batch)
    assert sorted(got) == sorted(stored)
    assert connector.queue_length("q", include_delayed=True) == 0
    connector.queue_push("q", b"room again")


def test_a_bulk_push_cut_short_says_how_much_was_stored(
    redis_server_factory: Callable[..., RedisServer],
    connectors: Callable[..., Connector],
) -> None:
    connector = connectors([redis_server_factory(extra_config=FULL)])
    items = [b"%08d" % i + b"x" * PAYLOAD for i in range(PUSH_CHUNK * 20)]
    with pytest.raises(PartialPushError) as caught:
        connector.queue_push_bulk("q", items)
    error = caught.value
    assert error.total == len(items)
    assert 0 < error.stored < len(items)
    assert error.stored % PUSH_CHUNK == 0
    assert f"push items[{error.stored}:] again" in str(error)
    assert "is full" in str(error)
    assert connector.queue_peek("q", error.stored + 1) == items[: error.stored]


def rejected(server: RedisServer, command: str) -> int:
    """How many times the server refused ``command`` (OOM, ACL...) before running it."""
    client = redis.Redis(host=server.host, port=server.port, password=server.password)
    stats: dict[str, Any] = client.info("commandstats")
    client.close()
    return int(stats.get(f"cmdstat_{command}", {}).get("rejected_calls", 0))


def test_pushes_skip_a_full_node_while_another_has_room(
    redis_server_factory: Callable[..., RedisServer],
    connectors: Callable[..., Connector],
) -> None:
    full, roomy = redis_server_factory(extra_config=FULL), redis_server_factory()
    alone = connectors([full])
    stored, _ = fill(alone, "q")
    for n in range(100_000):  # until it refuses even one small item
        try:
            alone.queue_push("q", b"top-up-%d" % n)
        except StorageError:
            break
        stored.append(b"top-up-%d" % n)
    connector = connectors([full, roomy])

    singles = [b"single-%02d" % i for i in range(20)]
    refused_before = rejected(full, "rpush")
    started = time.monotonic()
    for item in singles:
        connector.queue_push("q", item)
    bulk = [b"bulk-%05d" % i for i in range(PUSH_CHUNK * 3)]
    connector.queue_push_bulk("q", bulk)
    elapsed = time.monotonic() - started
    connector.queue_push("q", b"later", consumable_from=time.time() + 3600)
    assert connectors([roomy]).queue_length("q", include_delayed=True) >= len(bulk)
    # Once refused, the full node is tried after the one with room, not at every
    # push (13 calls would take it first): again only when its back-off (0.25 s,
    # doubling) ends, so k tries take 0.25 * (2**k - 1) s, however slow the machine.
    tries = rejected(full, "rpush") - refused_before
    assert 1 <= tries <= 1 + math.ceil(math.log2(elapsed / BACKOFF.first + 1))

    # Reserves and acks still reach the full node, so it drains.
    got: list[bytes] = []
    while batch := connector.queue_reserve("q", 1000, 30.0):
        got.extend(d.item for d in batch)
        assert connector.queue_ack("q", batch.receipts()) == len(batch)
    assert sorted(got) == sorted(stored + singles + bulk)


def test_a_push_fails_only_when_every_node_is_full(
    redis_server_factory: Callable[..., RedisServer],
    connectors: Callable[..., Connector],
) -> None:
    small = redis_server_factory(extra_config=FULL)
    large = redis_server_factory(extra_config=("maxmemory 6mb", "maxmemory-policy noeviction"))
    connector = connectors([small, large])
    items = [b"%08d" % i + b"x" * PAYLOAD for i in range(PUSH_CHUNK * 40)]
    with pytest.raises(PartialPushError) as caught:
        connector.queue_push_bulk("q", items)
    error = caught.value
    lengths = [connectors([s]).queue_length("q", include_delayed=True) for s in (small, large)]
    assert sum(lengths) == error.stored
    assert lengths[1] > lengths[0] > 0, "the larger node took chunks after the smaller was full"

    with pytest.raises(StorageError) as refused:
        connector.queue_push("q", b"one more")
    assert not isinstance(refused.value, ConnectorUnavailableError)
    message = str(refused.value)
    assert message.count("is full") == 2
    assert small.address in message
    assert large.address in message
