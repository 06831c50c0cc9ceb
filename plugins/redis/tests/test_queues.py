"""Queue paths the kit reaches only partly: big pops, retries and due items in bulk."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from sergeant.connector import Connector
from sergeant.errors import ConfigError
from sergeant.testing import wait_until
from sergeant_test_support.redis_fixtures import RedisServer

Connectors = Callable[..., Connector]


def test_big_pop_takes_retries_due_items_and_expired_leases(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector = connectors([redis_server])
    queue = f"mixed-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, [b"released", b"expiring"], priority="HIGH")
    released, _expiring = connector.queue_reserve(queue, 2, 0.3)
    assert connector.queue_release(queue, [released.receipt]) == 1
    connector.queue_push(queue, b"due-soon", consumable_from=time.time() + 0.3)
    connector.queue_push_bulk(queue, [b"fresh-1", b"fresh-2"])
    wait_until(lambda: connector.queue_length(queue) == 5, timeout=10, message="all ready")
    got = connector.queue_pop_bulk(queue, 100)
    assert got[:2] == [b"released", b"expiring"], "HIGH first, stripped of their history"
    assert sorted(got[2:]) == [b"due-soon", b"fresh-1", b"fresh-2"]
    assert connector.queue_length(queue, include_delayed=True) == 0
    assert connector.queue_delete(queue) is False


def test_bulk_push_larger_than_a_chunk_keeps_order(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector = connectors([redis_server])
    queue = f"big-{uuid.uuid4().hex[:8]}"
    items = [f"{i:06d}".encode() for i in range(12_000)]
    assert connector.queue_push_bulk(queue, items) is True
    assert connector.queue_length(queue) == 12_000
    assert connector.queue_pop_bulk(queue, 20_000) == items
    later = [f"d{i:05d}".encode() for i in range(6_000)]
    assert connector.queue_push_bulk(queue, later, consumable_from=time.time() + 60) is True
    assert connector.queue_length(queue, include_delayed=True) == 6_000
    assert connector.queue_delete(queue) is True


def test_a_queue_name_of_the_wrong_type_names_the_field(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector = connectors([redis_server])
    for call in (
        lambda: connector.queue_pop([]),  # type: ignore[arg-type]
        lambda: connector.queue_reserve({}, 1, 30),  # type: ignore[arg-type]
        lambda: connector.queue_length(b"bytes"),  # type: ignore[arg-type]
    ):
        with pytest.raises(ConfigError, match="queue_name"):
            call()
