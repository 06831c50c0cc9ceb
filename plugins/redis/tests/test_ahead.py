"""Calls sent ahead (``queue_ack_and_reserve_begin``): replies read in order, other
calls meanwhile, a lost connection, a server that lost its scripts."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from redis_helpers import items
from sergeant.connector import Connector
from sergeant.errors import ConnectorUnavailableError
from sergeant.testing import wait_until
from sergeant_test_support.redis_fixtures import RedisServer

Connectors = Callable[..., Connector]
SHORT = 0.6  # seconds: a lease the tests let run out


def test_calls_sent_ahead_each_get_their_own_reply_whatever_order_they_finish_in(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector = connectors([redis_server])
    queue = f"ahead-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, items(6))
    first = connector.queue_ack_and_reserve_begin(queue, [], 2, 30)
    second = connector.queue_ack_and_reserve_begin(queue, [], 2, 30)
    assert connector.queue_push(queue, b"late") is True  # reads both replies first
    third = connector.queue_ack_and_reserve_begin(queue, [], 2, 30)
    _, got_third = third()
    _, got_first = first()
    _, got_second = second()
    assert [d.item for d in got_first] == items(6)[0:2]
    assert [d.item for d in got_second] == items(6)[2:4]
    assert [d.item for d in got_third] == items(6)[4:6]
    receipts = [d.receipt for d in got_first + got_second + got_third]
    acked, rest = connector.queue_ack_and_reserve_begin(queue, receipts, 10, 30)()
    assert acked == 6
    assert [d.item for d in rest] == [b"late"]


def test_a_stalled_server_fails_every_pending_call_and_nothing_is_lost(
    redis_server_factory: Callable[..., RedisServer], connectors: Connectors
) -> None:
    server = redis_server_factory()
    connector = connectors([server], socket_timeout=0.3)
    queue = f"ahead-lost-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, items(4))
    assert connector.queue_ack_and_reserve(f"{queue}-other", [], 1, 30) == (0, [])  # loads it
    server.pause()
    try:
        first = connector.queue_ack_and_reserve_begin(queue, [], 2, SHORT)
        second = connector.queue_ack_and_reserve_begin(queue, [], 2, SHORT)
        with pytest.raises(ConnectorUnavailableError, match="nodes\\[0\\]"):
            first()
        with pytest.raises(ConnectorUnavailableError, match="nodes\\[0\\]"):
            second()
    finally:
        server.resume()
    # Whether the server ran the two reserves or not, every item comes back:
    # at once if they never ran, after their lease if they did.
    got: list[bytes] = []
    wait_until(
        lambda: got.extend(d.item for d in connector.queue_reserve(queue, 10, 30)) or len(got) >= 4,
        timeout=20,
        message="the four items to be handed out again",
    )
    assert sorted(got) == items(4)


def test_a_call_sent_ahead_to_a_server_without_the_script_loads_it_and_runs(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector = connectors([redis_server])
    queue = f"ahead-noscript-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, items(4))
    (first,) = connector.queue_reserve(queue, 1, 30)
    acked, (second,) = connector.queue_ack_and_reserve(queue, [first.receipt], 1, 30)
    assert acked == 1
    redis_server.command("SCRIPT", "FLUSH")  # the server forgets the script it ran
    acked, got = connector.queue_ack_and_reserve_begin(queue, [second.receipt], 5, 30)()
    assert acked == 1
    assert [d.item for d in got] == items(4)[2:]
