"""Peeking reads the hand-out order without taking anything, and a batch's own
receipts (``Batch.receipts()``, carrying its handle) settle exactly what plain
receipt strings would.

Peek: HIGH before NORMAL, FIFO within a priority, no delayed items, no items
under a live lease; items whose lease ran out are ready again and peeked where
the next reserve hands them out; no delivery is counted. Batches: the handle is
only a shortcut, so an expired lease, a part already settled, or a batch split
over several lease rows give the same counts as the receipt strings.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sergeant.connector import Batch, Delivery, Receipts
from sergeant.testing import wait_until
from sergeant_local import LocalConnector, _leases

SHORT = 0.3


@pytest.fixture
def connector(tmp_path: Path) -> Iterator[LocalConnector]:
    with LocalConnector(file_path=str(tmp_path / "peek.sqlite3")) as connector:
        yield connector


def _plain(deliveries: list[Delivery]) -> list[str]:
    return [d.receipt for d in deliveries]


def _batch(deliveries: list[Delivery]) -> Batch:
    """A reserve's result, as the batch it is (typed ``list[Delivery]`` publicly)."""
    assert isinstance(deliveries, Batch)
    return deliveries


# Peek ----------------------------------------------------------------------------


def test_peek_shows_the_hand_out_order_and_takes_nothing(connector: LocalConnector) -> None:
    connector.queue_push_bulk("q", [b"n1", b"n2", b"n3"])
    connector.queue_push("q", b"later", consumable_from=time.time() + 600)
    connector.queue_push_bulk("q", [b"h1", b"h2"], priority="HIGH")
    assert connector.queue_peek("q", 10) == [b"h1", b"h2", b"n1", b"n2", b"n3"]
    assert connector.queue_peek("q", 3) == [b"h1", b"h2", b"n1"]
    assert connector.queue_length("q") == 5
    batch = connector.queue_reserve("q", 10, 30)
    assert [(d.item, d.deliveries) for d in batch] == [
        (item, 1) for item in (b"h1", b"h2", b"n1", b"n2", b"n3")
    ]


def test_peek_skips_live_leases(connector: LocalConnector) -> None:
    connector.queue_push_bulk("q", [b"a", b"b", b"c"])
    held = connector.queue_reserve("q", 2, 30)
    assert connector.queue_peek("q", 10) == [b"c"]
    assert connector.queue_release("q", _plain(held[1:])) == 1
    assert connector.queue_peek("q", 10) == [b"c", b"b"]  # released now: behind c
    assert connector.queue_peek("other", 10) == []


def test_peek_includes_expired_leases_where_a_reserve_finds_them(
    connector: LocalConnector,
) -> None:
    connector.queue_push_bulk("q", [b"a", b"b"])
    lost = connector.queue_reserve("q", 2, SHORT)
    connector.queue_push("q", b"c")  # ready before the lease runs out
    wait_until(
        lambda: connector.queue_length("q") == 3,
        timeout=10,
        message="the lease to run out",
    )
    peeked = connector.queue_peek("q", 10)
    assert sorted(peeked) == [b"a", b"b", b"c"]
    assert connector.queue_peek("q", 10) == peeked  # peeking again changes nothing
    again = connector.queue_reserve("q", 10, 30)
    assert [d.item for d in again] == peeked
    deliveries = {d.item: d.deliveries for d in again}
    assert deliveries == {b"a": 2, b"b": 2, b"c": 1}  # the peeks counted no delivery
    assert connector.queue_ack("q", _plain(lost)) == 0


# Batch handles -------------------------------------------------------------------


def test_a_batch_carries_its_handle_and_acks_whole(connector: LocalConnector) -> None:
    connector.queue_push_bulk("q", [b"a", b"b", b"c"])
    batch = _batch(connector.queue_reserve("q", 3, 30))
    receipts = batch.receipts()
    assert receipts.handle is not None
    assert receipts == _plain(batch)
    assert connector.queue_ack("q", receipts) == 3
    assert connector.queue_ack("q", batch.receipts()) == 0  # settled: the handle acks nothing
    assert connector.queue_stats("q")[0].in_flight == 0


def test_a_batch_handle_after_part_was_settled(connector: LocalConnector) -> None:
    connector.queue_push_bulk("q", [b"a", b"b", b"c", b"d"])
    batch = _batch(connector.queue_reserve("q", 4, 30))
    assert connector.queue_ack("q", [batch[1].receipt]) == 1
    assert connector.queue_release("q", [batch[3].receipt]) == 1
    assert connector.queue_extend("q", batch.receipts(), 60) == 2
    acked, more = connector.queue_ack_and_reserve("q", batch.receipts(), 10, 30)
    assert acked == 2
    assert [(d.item, d.deliveries) for d in more] == [(b"d", 2)]
    assert connector.queue_release("q", _batch(more).receipts()) == 1
    assert connector.queue_peek("q", 10) == [b"d"]


def test_a_batch_handle_of_an_expired_lease_settles_nothing(connector: LocalConnector) -> None:
    connector.queue_push_bulk("q", [b"a", b"b"])
    batch = _batch(connector.queue_reserve("q", 2, SHORT))
    wait_until(
        lambda: connector.queue_length("q") == 2,
        timeout=10,
        message="the lease to run out",
    )
    assert connector.queue_extend("q", batch.receipts(), 60) == 0
    assert connector.queue_ack("q", batch.receipts()) == 0
    assert connector.queue_release("q", batch.receipts()) == 0
    assert [d.deliveries for d in connector.queue_reserve("q", 10, 30)] == [2, 2]


def test_a_batch_over_several_lease_rows_acks_whole_by_handle(
    connector: LocalConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_leases, "MAX_LEASE_BYTES", 40)
    items = [f"item-{i:05d}".encode() for i in range(10)]  # 10 bytes: rows of up to 4
    connector.queue_push_bulk("q", items)
    acked, batch = connector.queue_ack_and_reserve("q", [], 10, 30)
    assert (acked, [d.item for d in batch]) == (0, items)
    assert len({d.receipt.rsplit(".", 1)[0] for d in batch}) == 3
    assert connector.queue_ack("q", [batch[0].receipt, batch[9].receipt]) == 2
    acked, more = connector.queue_ack_and_reserve("q", _batch(batch).receipts(), 10, 30)
    assert (acked, more) == (8, [])
    assert connector.queue_stats("q")[0].in_flight == 0


def test_a_handle_belongs_to_its_queue(connector: LocalConnector) -> None:
    connector.queue_push("q", b"a")
    batch = _batch(connector.queue_reserve("q", 1, 30))
    assert connector.queue_ack("other", batch.receipts()) == 0
    assert connector.queue_ack("q", Receipts(_plain(batch))) == 1  # no handle: parsed
