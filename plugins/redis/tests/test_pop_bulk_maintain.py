"""Bulk pops leave out MAINTAIN while a node said nothing falls due, never for long.

A bulk pop pipelines the MAINTAIN script (due delayed items and expired leases
back to the lists) with a native ``LMPOP``. MAINTAIN answers how many
milliseconds nothing can fall due on that node; the connector then sends the
``LMPOP`` alone for at most ``MAINTAIN_SKIP`` seconds. These tests prove the
script's answer, that the skip happens, and that this connector's own delayed
pushes and releases end it, so an item it delayed is never left waiting. The
skip is set by hand where a test needs it to last: nothing here depends on how
fast the machine is.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from redis_helpers import command_calls, items
from sergeant.connector import Connector
from sergeant.testing import wait_until
from sergeant_redis import connector as redis_connector
from sergeant_redis import scripts
from sergeant_test_support.redis_fixtures import RedisServer

Connectors = Callable[..., Connector]
FAR = 1e12  # a monotonic time no test reaches


def maintain(connector: Any, queue: str) -> int:
    reply: int = connector.nodes[0].script(scripts.MAINTAIN, connector._queue(queue).keys, 10)
    return reply


def new_queue() -> str:
    return f"bulk-{uuid.uuid4().hex[:8]}"


def test_maintain_answers_how_long_nothing_falls_due(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector: Any = connectors([redis_server])
    queue = new_queue()
    connector.queue_push_bulk(queue, items(3))
    assert maintain(connector, queue) == 1000  # no delayed items, no leases
    connector.queue_push(queue, b"later", consumable_from=time.time() + 0.4)
    assert 0 <= maintain(connector, queue) <= 400
    connector.queue_push(queue, b"much later", consumable_from=time.time() + 600)
    assert 0 <= maintain(connector, queue) <= 400  # the sooner item still bounds it


def test_a_bulk_pop_records_the_quiet_time_and_the_next_one_sends_no_script(
    redis_server: RedisServer, connectors: Connectors, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector: Any = connectors([redis_server])
    queue = new_queue()
    connector.queue_push_bulk(queue, items(100))
    before = time.monotonic()
    assert len(connector.queue_pop_bulk(queue, 40)) == 40
    until = connector._queue(queue).maintained_until[0]
    assert before < until <= time.monotonic() + redis_connector.MAINTAIN_SKIP

    connector._queue(queue).maintained_until[0] = FAR
    scripts_before = command_calls(redis_server, "evalsha")
    assert connector.queue_pop_bulk(queue, 40) == items(100)[40:80]
    assert command_calls(redis_server, "evalsha") == scripts_before

    connector._queue(queue).maintained_until[0] = 0.0
    assert connector.queue_pop_bulk(queue, 40) == items(100)[80:]
    assert command_calls(redis_server, "evalsha") > scripts_before


def test_unknown_due_times_are_not_skipped(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector: Any = connectors([redis_server])
    queue = new_queue()
    due = time.time() + 0.1
    # more due items than one MAINTAIN call moves (at most 100 for a pop of 50)
    connector.queue_push_bulk(queue, items(300), consumable_from=due)
    wait_until(lambda: time.time() > due + 0.05, timeout=10)
    assert connector.queue_pop_bulk(queue, 50) == items(300)[:50]
    assert connector._queue(queue).maintained_until[0] <= time.monotonic()


@pytest.mark.parametrize("how", ["push", "release"])
def test_our_own_delayed_items_end_the_skip(
    redis_server: RedisServer, connectors: Connectors, how: str
) -> None:
    connector: Any = connectors([redis_server])
    queue = new_queue()
    connector.queue_push_bulk(queue, items(40))
    if how == "release":
        batch = connector.queue_reserve(queue, 1, 600)
        due_item = batch[0].item
    assert len(connector.queue_pop_bulk(queue, 50)) >= 39
    connector._queue(queue).maintained_until[0] = FAR  # as if the node had said so
    if how == "push":
        due_item = b"due soon"
        connector.queue_push(queue, due_item, consumable_from=time.time() + 0.1)
    else:
        assert connector.queue_release(queue, batch.receipts(), time.time() + 0.1) == 1
    assert connector._queue(queue).maintained_until[0] == 0.0
    popped: list[bytes] = []
    wait_until(lambda: popped.extend(connector.queue_pop_bulk(queue, 50)) or popped, timeout=10)
    assert popped == [due_item]
