"""The test class behind :mod:`sergeant.testing`."""

from __future__ import annotations

import gc
import itertools
import re
import threading
import time
import uuid
import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from typing import ClassVar

import pytest

from sergeant.connector import Batch, Connector, Lock, wait_collected_released
from sergeant.errors import ConfigError, SergeantError
from sergeant.testing._wait import wait_until

__all__ = ["ConnectorConformance"]

ConnectorFactory = Callable[[], Connector]


def _need(connector: Connector, *capabilities: str) -> None:
    missing = sorted(set(capabilities) - connector.capabilities)
    if missing:
        pytest.skip(f"{type(connector).__name__} does not declare capabilities {missing}")


#: A lone surrogate: a str that no storage can encode.
_SURROGATE = "\udc80"


def _aliases(receipt: str) -> set[str]:
    """Strings a lenient parser might read as ``receipt``: per run of digits, a
    leading zero, a sign, a space, fullwidth digits; the whole in other cases."""
    found = {receipt.upper(), receipt.lower(), receipt.swapcase(), f" {receipt}", f"{receipt}\n"}
    for run in re.finditer(r"[0-9]+", receipt):
        head, digits, tail = receipt[: run.start()], run.group(), receipt[run.end() :]
        wide = "".join(chr(0xFF10 + int(d)) for d in digits)
        for changed in (f"0{digits}", f"+{digits}", f" {digits}", f"{digits} ", wide):
            found.add(head + changed + tail)
    found.discard(receipt)
    return found


def _items(count: int, tag: str = "item") -> list[bytes]:
    return [f"{tag}-{i:06d}".encode() for i in range(count)]


class ConnectorConformance:
    """Subclass me and provide the ``connector_factory`` fixture.

    Class attributes tune the suite to a backend's speed, never its semantics:

    :cvar ordered: the storage is one node, so FIFO and HIGH-before-NORMAL are
        checked item by item. Multi-node setups set False: the same items must
        still come out, in any order (DESIGN: across nodes no order is promised).
    :cvar lease_seconds: the short lease used by expiry tests.
    :cvar wait_timeout: the bound on every wait for a condition.
    :cvar concurrent_items: items drained by the concurrent-consumer tests.
    """

    ordered: ClassVar[bool] = True
    lease_seconds: ClassVar[float] = 1.0
    wait_timeout: ClassVar[float] = 20.0
    concurrent_items: ClassVar[int] = 600

    # Fixtures -------------------------------------------------------------

    @pytest.fixture
    def connector_factory(self) -> ConnectorFactory:
        pytest.fail("override the connector_factory fixture to return a connector builder")

    @pytest.fixture
    def connector(self, connector_factory: ConnectorFactory) -> Iterator[Connector]:
        connector = connector_factory()
        try:
            yield connector
        finally:
            connector.close()

    @pytest.fixture
    def queue(self, connector: Connector) -> Iterator[str]:
        name = f"kit-{uuid.uuid4().hex[:12]}"
        yield name
        connector.queue_delete(name)

    def _same_order(self, got: list[bytes], expected: list[bytes]) -> None:
        if self.ordered:
            assert got == expected
        else:
            assert sorted(got) == sorted(expected)

    def _drain(self, connector: Connector, queue: str) -> list[bytes]:
        out: list[bytes] = []
        while (item := connector.queue_pop(queue)) is not None:
            out.append(item)
        return out

    # Push and pop ---------------------------------------------------------

    def test_pop_returns_exact_bytes(self, connector: Connector, queue: str) -> None:
        payloads = [b"", b"\x00\xff\x00binary", "héllo ✓".encode(), bytes(range(256)) * 4096]
        for payload in payloads:
            assert connector.queue_push(queue, payload) is True
        self._same_order(self._drain(connector, queue), payloads)

    def test_pop_on_empty_queue(self, connector: Connector, queue: str) -> None:
        assert connector.queue_pop(queue) is None
        assert connector.queue_pop_bulk(queue, 10) == []
        assert connector.queue_length(queue) == 0

    def test_fifo_within_priority(self, connector: Connector, queue: str) -> None:
        items = _items(50)
        for item in items:
            connector.queue_push(queue, item)
        self._same_order(self._drain(connector, queue), items)

    def test_high_before_normal(self, connector: Connector, queue: str) -> None:
        _need(connector, "priority")
        normal, high = _items(10, "normal"), _items(10, "high")
        for item in normal:
            connector.queue_push(queue, item, priority="NORMAL")
        for item in high:
            connector.queue_push(queue, item, priority="HIGH")
        got = self._drain(connector, queue)
        self._same_order(got, high + normal)

    def test_high_before_normal_in_bulk(self, connector: Connector, queue: str) -> None:
        _need(connector, "priority", "bulk")
        connector.queue_push_bulk(queue, _items(30, "normal"), priority="NORMAL")
        connector.queue_push_bulk(queue, _items(30, "high"), priority="HIGH")
        first = connector.queue_pop_bulk(queue, 30)
        if self.ordered:
            assert first == _items(30, "high")
        rest = connector.queue_pop_bulk(queue, 100)
        self._same_order(first + rest, _items(30, "high") + _items(30, "normal"))

    def test_queues_are_independent(self, connector: Connector, queue: str) -> None:
        other = queue + "-other"
        try:
            connector.queue_push(queue, b"mine")
            assert connector.queue_pop(other) is None
            assert connector.queue_length(other) == 0
            assert connector.queue_pop(queue) == b"mine"
        finally:
            connector.queue_delete(other)

    def test_bulk_push_and_pop(self, connector: Connector, queue: str) -> None:
        _need(connector, "bulk")
        items = _items(250)
        assert connector.queue_push_bulk(queue, items) is True
        assert connector.queue_length(queue) == 250
        first = connector.queue_pop_bulk(queue, 100)
        assert len(first) == 100
        rest = connector.queue_pop_bulk(queue, 1000)
        assert len(rest) == 150
        self._same_order(first + rest, items)
        assert connector.queue_pop_bulk(queue, 10) == []

    def test_bulk_push_accepts_any_iterable_and_empty(
        self, connector: Connector, queue: str
    ) -> None:
        _need(connector, "bulk")
        assert connector.queue_push_bulk(queue, []) is True
        assert connector.queue_length(queue) == 0
        assert connector.queue_push_bulk(queue, (i for i in [b"a", b"b"])) is True
        self._same_order(connector.queue_pop_bulk(queue, 5), [b"a", b"b"])

    def test_length_and_delete(self, connector: Connector, queue: str) -> None:
        connector.queue_push_bulk(queue, _items(7))
        assert connector.queue_length(queue) == 7
        connector.queue_pop(queue)
        assert connector.queue_length(queue) == 6
        assert connector.queue_delete(queue) is True
        assert connector.queue_length(queue, include_delayed=True) == 0
        assert connector.queue_pop(queue) is None
        assert connector.queue_delete(queue) is False

    # Delayed items ----------------------------------------------------------

    def test_delayed_item_waits_until_consumable(self, connector: Connector, queue: str) -> None:
        _need(connector, "delay")
        connector.queue_push(queue, b"later", consumable_from=time.time() + 1.0)
        assert connector.queue_pop(queue) is None
        assert connector.queue_length(queue) == 0
        assert connector.queue_length(queue, include_delayed=True) == 1
        got = wait_until(
            lambda: connector.queue_pop(queue),
            timeout=self.wait_timeout,
            message="the delayed item to become consumable",
        )
        assert got == b"later"
        assert connector.queue_length(queue, include_delayed=True) == 0

    def test_delayed_bulk_and_past_timestamps(self, connector: Connector, queue: str) -> None:
        _need(connector, "delay", "bulk")
        connector.queue_push_bulk(queue, [b"d1", b"d2"], consumable_from=time.time() + 60)
        connector.queue_push_bulk(queue, [b"now1", b"now2"], consumable_from=time.time() - 60)
        assert connector.queue_length(queue) == 2
        assert connector.queue_length(queue, include_delayed=True) == 4
        self._same_order(connector.queue_pop_bulk(queue, 10), [b"now1", b"now2"])
        assert connector.queue_pop(queue) is None

    def test_delayed_item_is_not_reserved_early(self, connector: Connector, queue: str) -> None:
        _need(connector, "delay", "reserve")
        connector.queue_push(queue, b"later", consumable_from=time.time() + 60)
        assert connector.queue_reserve(queue, 10, 30) == []

    # Reserve / ack / release / extend ----------------------------------------

    def test_reserve_then_ack(self, connector: Connector, queue: str) -> None:
        _need(connector, "reserve")
        items = _items(5)
        connector.queue_push_bulk(queue, items)
        deliveries = connector.queue_reserve(queue, 10, 30)
        self._same_order([d.item for d in deliveries], items)
        assert all(d.deliveries == 1 for d in deliveries)
        assert len({d.receipt for d in deliveries}) == 5
        assert connector.queue_length(queue, include_delayed=True) == 0
        assert connector.queue_reserve(queue, 10, 30) == []
        assert connector.queue_ack(queue, [d.receipt for d in deliveries]) == 5
        assert connector.queue_ack(queue, [d.receipt for d in deliveries]) == 0

    def test_acking_a_whole_batch_by_its_receipts(self, connector: Connector, queue: str) -> None:
        _need(connector, "reserve")
        connector.queue_push_bulk(queue, _items(4))
        first = connector.queue_reserve(queue, 2, 30)
        second = connector.queue_reserve(queue, 2, 30)
        assert isinstance(first, Batch)
        assert isinstance(second, Batch)
        # the older batch by its handle, while a newer one is out; then again: 0
        assert connector.queue_ack(queue, first.receipts()) == 2
        assert connector.queue_ack(queue, first.receipts()) == 0
        acked, _ = connector.queue_ack_and_reserve(queue, second.receipts(), 1, 30)
        assert acked == 2
        assert connector.queue_length(queue, include_delayed=True) == 0
        if "stats" in connector.capabilities:
            assert sum(n.in_flight for n in connector.queue_stats(queue)) == 0

    def test_a_batch_handle_settles_only_what_is_still_held(
        self, connector: Connector, queue: str
    ) -> None:
        _need(connector, "reserve")
        connector.queue_push_bulk(queue, _items(3))
        batch = connector.queue_reserve(queue, 3, 30)
        assert connector.queue_ack(queue, [batch[1].receipt]) == 1
        assert connector.queue_release(queue, [batch[2].receipt]) == 1
        assert connector.queue_ack(queue, batch.receipts()) == 1  # only the first is held
        redelivered = connector.queue_reserve(queue, 5, 30)
        assert [(d.item, d.deliveries) for d in redelivered] == [(batch[2].item, 2)]

    def test_a_batch_changed_in_place_acks_what_it_holds_now(
        self, connector: Connector, queue: str
    ) -> None:
        """An item of another batch put in the place of one of this batch's
        (the same length): the ack settles the items the receipts name, not the
        ones the batch was handed out with."""
        _need(connector, "reserve")
        connector.queue_push_bulk(queue, _items(4))
        first = connector.queue_reserve(queue, 3, 30)
        second = connector.queue_reserve(queue, 1, 30)
        left_out = first[1]
        first[1] = second[0]
        assert connector.queue_ack(queue, first.receipts()) == 3
        assert connector.queue_release(queue, [left_out.receipt]) == 1  # still held
        assert connector.queue_release(queue, [second[0].receipt]) == 0  # acked
        receipts = connector.queue_reserve(queue, 1, 30).receipts()
        held = connector.queue_reserve(queue, 5, 30)
        assert held == []
        receipts[0] = receipts[0]  # changed in place, to the same value
        assert connector.queue_ack(queue, receipts) == 1

    def test_peek_reads_ready_items_in_place(self, connector: Connector, queue: str) -> None:
        _need(connector, "peek", "reserve", "priority", "delay")
        connector.queue_push_bulk(queue, [b"n1", b"n2", b"n3"])
        connector.queue_push(queue, b"h1", priority="HIGH")
        connector.queue_push(queue, b"later", consumable_from=time.time() + 600)
        held = connector.queue_reserve(queue, 1, 30)
        ready = [b"n1", b"n2", b"n3", b"h1"]
        if self.ordered:
            assert [d.item for d in held] == [b"h1"]
        else:  # HIGH first is a promise per node: the reserve's node may hold only NORMAL items
            assert len(held) == 1
            assert held[0].item in ready
        rest = [item for item in ready if item != held[0].item]
        peeked = connector.queue_peek(queue, 10)
        self._same_order(peeked, rest)
        self._same_order(connector.queue_peek(queue, 10), peeked)  # nothing taken or leased
        if self.ordered:
            assert connector.queue_peek(queue, 2) == [b"n1", b"n2"]
        deliveries = connector.queue_reserve(queue, 10, 30)
        assert sorted(d.item for d in deliveries) == sorted(rest)
        assert {d.deliveries for d in deliveries} == {1}  # peeking counted no delivery
        assert connector.queue_peek(queue, 10) == []

    def test_acking_part_of_a_batch_twice_keeps_the_rest_held(
        self, connector: Connector, queue: str
    ) -> None:
        _need(connector, "reserve")
        connector.queue_push_bulk(queue, _items(6))
        receipts = [d.receipt for d in connector.queue_reserve(queue, 6, 30)]
        assert connector.queue_ack(queue, receipts[:3]) == 3
        assert connector.queue_ack(queue, receipts[:3]) == 0
        assert sum(row.in_flight for row in connector.queue_stats(queue)) == 3
        assert connector.queue_reserve(queue, 6, 30) == []
        assert connector.queue_ack(queue, receipts) == 3
        assert sum(row.in_flight for row in connector.queue_stats(queue)) == 0

    def test_reserve_takes_high_first_and_respects_count(
        self, connector: Connector, queue: str
    ) -> None:
        _need(connector, "reserve", "priority")
        connector.queue_push_bulk(queue, _items(5, "normal"))
        connector.queue_push_bulk(queue, _items(5, "high"), priority="HIGH")
        first = connector.queue_reserve(queue, 3, 30)
        assert len(first) == 3
        if self.ordered:
            assert [d.item for d in first] == _items(3, "high")
        rest = connector.queue_reserve(queue, 100, 30)
        self._same_order([d.item for d in first + rest], _items(5, "high") + _items(5, "normal"))

    def test_acked_items_never_return(self, connector: Connector, queue: str) -> None:
        _need(connector, "reserve")
        connector.queue_push(queue, b"once")
        (delivery,) = connector.queue_reserve(queue, 1, self.lease_seconds)
        assert connector.queue_ack(queue, [delivery.receipt]) == 1
        time.sleep(self.lease_seconds * 1.5)  # the lease would have run out by now
        assert connector.queue_reserve(queue, 1, 30) == []
        assert connector.queue_pop(queue) is None

    def test_ack_and_reserve_acks_then_reserves(self, connector: Connector, queue: str) -> None:
        _need(connector, "reserve")
        items = _items(6)
        connector.queue_push_bulk(queue, items)
        first = connector.queue_reserve(queue, 2, 30)
        acked, second = connector.queue_ack_and_reserve(queue, [d.receipt for d in first], 3, 30)
        assert acked == 2
        assert len(second) == 3
        assert all(d.deliveries == 1 for d in second)
        assert connector.queue_ack(queue, [d.receipt for d in first]) == 0
        acked, third = connector.queue_ack_and_reserve(queue, [d.receipt for d in second], 10, 30)
        assert acked == 3
        self._same_order([d.item for d in first + second + third], items)
        assert len({d.receipt for d in first + second + third}) == 6
        acked, empty = connector.queue_ack_and_reserve(queue, [d.receipt for d in third], 10, 30)
        assert (acked, empty) == (1, [])
        assert connector.queue_length(queue, include_delayed=True) == 0
        if "stats" in connector.capabilities:
            assert all(row.in_flight == 0 for row in connector.queue_stats(queue))

    def test_ack_and_reserve_begun_ahead_finishes_after_other_calls(
        self, connector: Connector, queue: str
    ) -> None:
        _need(connector, "reserve")
        items = _items(7)
        connector.queue_push_bulk(queue, items)
        first = connector.queue_reserve(queue, 2, 30)
        second = connector.queue_ack_and_reserve_begin(queue, [d.receipt for d in first], 2, 30)
        third = connector.queue_ack_and_reserve_begin(queue, [], 2, 30)
        # Other calls, on this thread and another, before the calls are finished.
        connector.queue_push(queue, b"late")
        lengths: list[int] = []
        other = threading.Thread(target=lambda: lengths.append(connector.queue_length(queue)))
        other.start()
        other.join()
        assert len(lengths) == 1
        assert 0 <= lengths[0] <= 8
        acked, got_second = second()
        assert acked == 2
        acked, got_third = third()
        assert acked == 0
        rest = connector.queue_reserve(queue, 10, 30)
        handed = first + got_second + got_third + rest
        self._same_order([d.item for d in handed], [*items, b"late"])
        assert connector.queue_ack(queue, [d.receipt for d in handed]) == 6
        assert connector.queue_length(queue, include_delayed=True) == 0

    def test_ack_and_reserve_with_nothing_to_ack(self, connector: Connector, queue: str) -> None:
        _need(connector, "reserve")
        connector.queue_push(queue, b"only")
        acked, got = connector.queue_ack_and_reserve(queue, [], 5, 30)
        assert acked == 0
        assert [(d.item, d.deliveries) for d in got] == [(b"only", 1)]
        acked, got = connector.queue_ack_and_reserve(queue, ["not-a-receipt", ""], 5, 30)
        assert (acked, got) == (0, [])

    def test_ack_and_reserve_after_lease_expiry(self, connector: Connector, queue: str) -> None:
        _need(connector, "reserve")
        connector.queue_push(queue, b"slow")
        (first,) = connector.queue_reserve(queue, 1, self.lease_seconds)
        time.sleep(self.lease_seconds * 1.5)  # let the lease run out; nobody reclaims it
        acked, got = connector.queue_ack_and_reserve(queue, [first.receipt], 1, 30)
        assert acked == 0  # too late: the item is handed out again instead
        assert [(d.item, d.deliveries) for d in got] == [(b"slow", 2)]
        acked, rest = connector.queue_ack_and_reserve(queue, [got[0].receipt], 1, 30)
        assert (acked, rest) == (1, [])

    def test_ack_and_reserve_validates_before_acking(
        self, connector: Connector, queue: str
    ) -> None:
        _need(connector, "reserve")
        connector.queue_push(queue, b"kept")
        (delivery,) = connector.queue_reserve(queue, 1, 30)
        for bad_count, bad_lease, field in ((0, 30, "number_of_items"), (1, -1, "lease_seconds")):
            with pytest.raises(ConfigError, match=field):
                connector.queue_ack_and_reserve(queue, [delivery.receipt], bad_count, bad_lease)
        with pytest.raises(ConfigError, match="receipts"):
            connector.queue_ack_and_reserve(queue, "a-string", 1, 30)
        assert connector.queue_ack(queue, [delivery.receipt]) == 1

    def test_unknown_receipts_are_ignored(self, connector: Connector, queue: str) -> None:
        _need(connector, "reserve")
        assert connector.queue_ack(queue, ["not-a-receipt", ""]) == 0
        assert connector.queue_release(queue, ["not-a-receipt"]) == 0
        assert connector.queue_extend(queue, ["not-a-receipt"], 30) == 0
        assert connector.queue_ack(queue, []) == 0

    def test_receipts_act_only_as_handed_out(self, connector: Connector, queue: str) -> None:
        """Receipts are canonical: a receipt with a digit run zero-padded, signed,
        spaced or written in other digits, or in another case, is no alias of it."""
        connector.queue_push(queue, b"x")
        (delivery,) = connector.queue_reserve(queue, 1, 30)
        variants = sorted(_aliases(delivery.receipt))
        assert connector.queue_ack(queue, variants) == 0, f"an alias of {delivery.receipt!r} acked"
        assert connector.queue_extend(queue, variants, 30) == 0
        assert connector.queue_release(queue, variants) == 0
        acked, _ = connector.queue_ack_and_reserve(queue, variants, 1, 30)
        assert acked == 0
        assert connector.queue_ack(queue, [delivery.receipt]) == 1

    def test_release_puts_back_with_delivery_count(self, connector: Connector, queue: str) -> None:
        _need(connector, "reserve")
        connector.queue_push(queue, b"retry-me")
        (first,) = connector.queue_reserve(queue, 1, 30)
        assert connector.queue_release(queue, [first.receipt]) == 1
        assert connector.queue_length(queue) == 1
        (second,) = connector.queue_reserve(queue, 1, 30)
        assert (second.item, second.deliveries) == (b"retry-me", 2)
        assert second.receipt != first.receipt
        assert connector.queue_ack(queue, [first.receipt]) == 0
        assert connector.queue_ack(queue, [second.receipt]) == 1

    def test_release_with_delay(self, connector: Connector, queue: str) -> None:
        _need(connector, "reserve", "delay")
        connector.queue_push(queue, b"later")
        (first,) = connector.queue_reserve(queue, 1, 30)
        assert connector.queue_release(queue, [first.receipt], consumable_from=time.time() + 1) == 1
        assert connector.queue_reserve(queue, 1, 30) == []
        assert connector.queue_length(queue, include_delayed=True) == 1
        got = wait_until(
            lambda: connector.queue_reserve(queue, 1, 30),
            timeout=self.wait_timeout,
            message="the released item to become consumable",
        )
        assert (got[0].item, got[0].deliveries) == (b"later", 2)

    def test_lease_expiry_redelivers_with_count(self, connector: Connector, queue: str) -> None:
        _need(connector, "reserve")
        connector.queue_push(queue, b"crashy")
        (first,) = connector.queue_reserve(queue, 1, self.lease_seconds)
        assert connector.queue_length(queue) == 0
        again = wait_until(
            lambda: connector.queue_reserve(queue, 1, 30),
            timeout=self.wait_timeout,
            message="the expired lease to be reclaimed",
        )
        assert (again[0].item, again[0].deliveries) == (b"crashy", 2)
        assert connector.queue_ack(queue, [first.receipt]) == 0
        assert connector.queue_extend(queue, [first.receipt], 30) == 0
        assert connector.queue_release(queue, [first.receipt]) == 0
        assert connector.queue_ack(queue, [again[0].receipt]) == 1

    def test_expired_receipt_cannot_ack_before_reclaim(
        self, connector: Connector, queue: str
    ) -> None:
        _need(connector, "reserve")
        connector.queue_push(queue, b"slow")
        (first,) = connector.queue_reserve(queue, 1, self.lease_seconds)
        time.sleep(self.lease_seconds * 1.5)  # let the lease run out; nobody reclaims it
        assert connector.queue_ack(queue, [first.receipt]) == 0
        (again,) = connector.queue_reserve(queue, 1, 30)
        assert again.deliveries == 2

    def test_pop_reclaims_expired_leases(self, connector: Connector, queue: str) -> None:
        _need(connector, "reserve")
        connector.queue_push(queue, b"abandoned")
        connector.queue_reserve(queue, 1, self.lease_seconds)
        assert connector.queue_pop(queue) is None
        got = wait_until(
            lambda: connector.queue_pop(queue),
            timeout=self.wait_timeout,
            message="pop to reclaim the expired lease",
        )
        assert got == b"abandoned"

    def test_extend_keeps_the_lease(self, connector: Connector, queue: str) -> None:
        _need(connector, "reserve")
        connector.queue_push(queue, b"long-job")
        (delivery,) = connector.queue_reserve(queue, 1, self.lease_seconds)
        assert connector.queue_extend(queue, [delivery.receipt], 60) == 1
        time.sleep(self.lease_seconds * 1.5)  # past the original lease
        assert connector.queue_reserve(queue, 1, 30) == []
        assert connector.queue_ack(queue, [delivery.receipt]) == 1

    def test_delete_drops_reserved_items(self, connector: Connector, queue: str) -> None:
        _need(connector, "reserve")
        connector.queue_push_bulk(queue, [b"a", b"b"])
        connector.queue_push(queue, b"c", consumable_from=time.time() + 60)
        (delivery,) = connector.queue_reserve(queue, 1, 30)
        assert connector.queue_delete(queue) is True
        assert connector.queue_ack(queue, [delivery.receipt]) == 0
        assert connector.queue_length(queue, include_delayed=True) == 0
        assert connector.queue_reserve(queue, 10, 30) == []

    def test_stats_count_ready_delayed_and_in_flight(
        self, connector: Connector, queue: str
    ) -> None:
        _need(connector, "stats", "reserve", "delay")
        connector.queue_push_bulk(queue, _items(6))
        connector.queue_push(queue, b"later", consumable_from=time.time() + 60)
        connector.queue_reserve(queue, 2, 30)
        stats = connector.queue_stats(queue)
        assert stats, "queue_stats returns one row per node"
        assert all(isinstance(row.node, str) and row.node for row in stats)
        totals = (
            sum(r.ready for r in stats),
            sum(r.delayed for r in stats),
            sum(r.in_flight for r in stats),
        )
        assert totals == (4, 1, 2)

    # Concurrency ------------------------------------------------------------

    def _run_consumers(
        self, consume: Callable[[Connector], list[bytes]], connectors: list[Connector]
    ) -> list[bytes]:
        results: list[list[bytes]] = [[] for _ in connectors]
        errors: list[BaseException] = []

        def run(index: int) -> None:
            try:
                results[index] = consume(connectors[index])
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(connectors))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(self.wait_timeout * 3)
        assert not any(t.is_alive() for t in threads), "a consumer thread hung"
        assert not errors, errors
        return [item for chunk in results for item in chunk]

    def test_concurrent_reservers_get_distinct_items(
        self, connector: Connector, connector_factory: ConnectorFactory, queue: str
    ) -> None:
        _need(connector, "reserve")
        items = _items(self.concurrent_items)
        connector.queue_push_bulk(queue, items)
        own = [connector_factory() for _ in range(3)]

        def consume(c: Connector) -> list[bytes]:
            got: list[bytes] = []
            while batch := c.queue_reserve(queue, 7, 60):
                got.extend(d.item for d in batch)
                assert c.queue_ack(queue, [d.receipt for d in batch]) == len(batch)
            return got

        try:
            got = self._run_consumers(consume, [*own, connector, connector])
        finally:
            for c in own:
                c.close()
        duplicates = [item for item, n in Counter(got).items() if n > 1]
        assert duplicates == []
        assert sorted(got) == items

    def test_concurrent_poppers_get_distinct_items(
        self, connector: Connector, connector_factory: ConnectorFactory, queue: str
    ) -> None:
        items = _items(self.concurrent_items)
        connector.queue_push_bulk(queue, items)
        own = [connector_factory() for _ in range(3)]

        def consume(c: Connector) -> list[bytes]:
            got: list[bytes] = []
            while True:
                one = c.queue_pop(queue)
                if one is not None:
                    got.append(one)
                batch = c.queue_pop_bulk(queue, 5)
                got.extend(batch)
                if one is None and not batch:
                    return got

        try:
            got = self._run_consumers(consume, [*own, connector, connector])
        finally:
            for c in own:
                c.close()
        assert sorted(got) == items

    def test_concurrent_pushers_lose_nothing(
        self, connector: Connector, connector_factory: ConnectorFactory, queue: str
    ) -> None:
        own = [connector_factory() for _ in range(3)]
        per = self.concurrent_items // 6

        def produce(c: Connector, tag: str) -> list[bytes]:
            mine = _items(per, tag)
            for item in mine[: per // 2]:
                c.queue_push(queue, item)
            c.queue_push_bulk(queue, mine[per // 2 :])
            return mine

        counter = iter(range(100))
        try:
            pushed = self._run_consumers(
                lambda c: produce(c, f"p{next(counter)}"), [*own, connector, connector]
            )
        finally:
            for c in own:
                c.close()
        assert sorted(self._drain(connector, queue)) == sorted(pushed)

    # Queue names ------------------------------------------------------------

    def test_queue_names_lists_queues_holding_items(self, connector: Connector) -> None:
        _need(connector, "stats")
        tag = uuid.uuid4().hex[:8]
        ready, delayed, held, emptied = (f"kit-names-{tag}-{k}" for k in "abcd")
        mine = {ready, delayed, held, emptied}
        try:
            assert mine.isdisjoint(connector.queue_names())
            connector.queue_push(ready, b"r")
            connector.queue_push(delayed, b"d", consumable_from=time.time() + 3600)
            connector.queue_push(held, b"h", priority="HIGH")
            connector.queue_push(emptied, b"e")
            assert len(connector.queue_reserve(held, 1, 60)) == 1
            assert connector.queue_pop(emptied) == b"e"
            names = connector.queue_names()
            assert names == sorted(names)
            assert len(names) == len(set(names))
            assert all(isinstance(name, str) for name in names)
            assert {n for n in names if n in mine} == {ready, delayed, held}
            connector.queue_delete(held)
            assert held not in connector.queue_names()
        finally:
            for name in mine:
                connector.queue_delete(name)
        assert mine.isdisjoint(connector.queue_names())

    def test_queue_names_after_acks(self, connector: Connector, queue: str) -> None:
        _need(connector, "stats", "reserve")
        name = f"{queue}:with:colons"
        try:
            connector.queue_push_bulk(name, _items(3))
            deliveries = connector.queue_reserve(name, 3, 60)
            assert name in connector.queue_names()
            assert connector.queue_ack(name, [d.receipt for d in deliveries]) == 3
            assert name not in connector.queue_names()
        finally:
            connector.queue_delete(name)

    # Keys -------------------------------------------------------------------

    def test_keys(self, connector: Connector) -> None:
        _need(connector, "keys")
        key = f"kit-key-{uuid.uuid4().hex}"
        try:
            assert connector.key_get(key) is None
            assert connector.key_set(key, b"\x00first") is True
            assert connector.key_get(key) == b"\x00first"
            assert connector.key_set(key, b"second") is False
            assert connector.key_get(key) == b"second"
            assert connector.key_set(key, b"") is False
            assert connector.key_get(key) == b""
            assert connector.key_delete(key) is True
            assert connector.key_delete(key) is False
            assert connector.key_get(key) is None
            assert connector.key_set(key, b"") is True
            assert connector.key_get(key) == b""
        finally:
            connector.key_delete(key)

    def test_keys_are_shared_between_connectors(
        self, connector: Connector, connector_factory: ConnectorFactory
    ) -> None:
        _need(connector, "keys")
        key = f"kit-key-{uuid.uuid4().hex}"
        with connector_factory() as other:
            assert connector.key_set(key, b"v") is True
            assert other.key_get(key) == b"v"
            assert other.key_set(key, b"w") is False
            assert connector.key_get(key) == b"w"
            assert other.key_delete(key) is True

    # Locks ------------------------------------------------------------------

    def _lock_name(self) -> str:
        return f"kit-lock-{uuid.uuid4().hex[:12]}"

    def test_lock_acquire_release(self, connector: Connector) -> None:
        _need(connector, "locks")
        name = self._lock_name()
        lock, rival = connector.lock(name), connector.lock(name)
        assert lock.is_locked() is False
        assert lock.get_ttl() is None
        assert lock.acquire(timeout=0, ttl=30) is True
        assert lock.is_locked() is True
        assert rival.is_locked() is True
        ttl = lock.get_ttl()
        assert ttl is not None
        assert 0 < ttl <= 30
        assert rival.acquire(timeout=0) is False
        assert lock.release() is True
        assert lock.release() is False
        assert lock.is_locked() is False
        assert rival.acquire(timeout=0, ttl=30) is True
        assert rival.release() is True

    def test_lock_non_owner_cannot_release_or_extend(
        self, connector: Connector, connector_factory: ConnectorFactory
    ) -> None:
        _need(connector, "locks")
        name = self._lock_name()
        with connector_factory() as other:
            owner, stranger = connector.lock(name), other.lock(name)
            assert owner.acquire(timeout=0, ttl=30) is True
            assert stranger.release() is False
            assert stranger.set_ttl(100) is False
            assert stranger.is_locked() is True
            ttl = owner.get_ttl()
            assert ttl is not None
            assert ttl <= 30
            assert owner.set_ttl(100) is True
            ttl = stranger.get_ttl()
            assert ttl is not None
            # Another client's estimate of the server's clock may differ from the
            # owner's by part of a round trip, which rounding up can turn into a second.
            assert 30 < ttl <= 101
            assert owner.release() is True

    def test_expired_lock_taken_by_another_is_not_ours(self, connector: Connector) -> None:
        _need(connector, "locks")
        name = self._lock_name()
        first, second = connector.lock(name), connector.lock(name)
        assert first.acquire(timeout=0, ttl=1) is True
        wait_until(
            lambda: not first.is_locked(),
            timeout=self.wait_timeout,
            message="the lock's ttl to run out",
        )
        assert first.get_ttl() is None
        assert second.acquire(timeout=0, ttl=30) is True
        assert first.release() is False
        assert first.set_ttl(60) is False
        assert second.is_locked() is True
        assert second.release() is True

    def test_set_ttl_zero_frees_the_lock(self, connector: Connector) -> None:
        _need(connector, "locks")
        name = self._lock_name()
        lock, rival = connector.lock(name), connector.lock(name)
        assert rival.set_ttl(0) is False
        assert lock.acquire(timeout=0, ttl=30) is True
        assert rival.set_ttl(0) is False
        assert lock.is_locked() is True
        assert lock.set_ttl(0) is True
        assert lock.is_locked() is False
        assert lock.get_ttl() is None
        assert lock.release() is False
        assert lock.set_ttl(0) is False
        assert rival.acquire(timeout=0, ttl=30) is True
        assert lock.set_ttl(0) is False
        assert rival.is_locked() is True
        assert rival.release() is True

    def test_set_ttl_rejects_negative(self, connector: Connector) -> None:
        _need(connector, "locks")
        lock = connector.lock(self._lock_name())
        assert lock.acquire(timeout=0, ttl=30) is True
        try:
            with pytest.raises(ConfigError, match="ttl"):
                lock.set_ttl(-1)
            assert lock.is_locked() is True
        finally:
            lock.release()

    def test_collected_lock_is_freed(self, connector: Connector) -> None:
        _need(connector, "locks")
        name = self._lock_name()
        lock = connector.lock(name)
        assert lock.acquire(timeout=0, ttl=60) is True
        collected = weakref.ref(lock)
        del lock
        gc.collect()
        assert collected() is None
        assert wait_collected_released(self.wait_timeout)
        wait_until(
            lambda: not connector.lock(name).is_locked(),
            timeout=self.wait_timeout,
            message="the collected lock to be freed",
        )
        again = connector.lock(name)
        assert again.acquire(timeout=0, ttl=30) is True
        assert again.release() is True

    def test_collected_lock_is_free_at_once_for_this_process(self, connector: Connector) -> None:
        """Sergeant's ``del lock`` then ``connector.lock(name).is_locked()`` is False:
        a new lock object and ``is_locked`` run the queued release first
        (:func:`sergeant.connector.settle_collected`), no waiting needed."""
        _need(connector, "locks")
        name = self._lock_name()
        lock = connector.lock(name)
        assert lock.acquire(timeout=0, ttl=60) is True
        del lock
        gc.collect()
        assert connector.lock(name).is_locked() is False

    def test_collected_lock_leaves_a_later_holder_alone(self, connector: Connector) -> None:
        _need(connector, "locks")
        name = self._lock_name()
        first, second = connector.lock(name), connector.lock(name)
        assert first.acquire(timeout=0, ttl=1) is True
        wait_until(
            lambda: not second.is_locked(),
            timeout=self.wait_timeout,
            message="the lock's ttl to run out",
        )
        assert second.acquire(timeout=0, ttl=30) is True
        del first
        self._after_collection_still_held(second)

    def test_released_lock_collected_frees_nothing(self, connector: Connector) -> None:
        _need(connector, "locks")
        name = self._lock_name()
        lock = connector.lock(name)
        assert lock.acquire(timeout=0, ttl=30) is True
        assert lock.release() is True
        rival = connector.lock(name)
        assert rival.acquire(timeout=0, ttl=30) is True
        del lock
        self._after_collection_still_held(rival)

    def _after_collection_still_held(self, holder: Lock) -> None:
        """Collect the lock objects just dropped, wait until their release is
        settled, and check ``holder`` still holds its lock."""
        gc.collect()
        assert wait_collected_released(self.wait_timeout)
        assert holder.is_locked() is True
        assert holder.release() is True

    def test_acquire_waits_for_expiry(self, connector: Connector) -> None:
        _need(connector, "locks")
        name = self._lock_name()
        holder, waiter = connector.lock(name), connector.lock(name)
        assert holder.acquire(timeout=0, ttl=1) is True
        started = time.monotonic()
        assert waiter.acquire(timeout=self.wait_timeout, check_interval=0.05, ttl=30) is True
        assert time.monotonic() - started < self.wait_timeout
        assert holder.release() is False
        assert waiter.release() is True

    def test_acquire_times_out(self, connector: Connector) -> None:
        _need(connector, "locks")
        name = self._lock_name()
        holder, waiter = connector.lock(name), connector.lock(name)
        assert holder.acquire(timeout=0, ttl=60) is True
        assert waiter.acquire(timeout=0.3, check_interval=0.05) is False
        assert holder.release() is True

    def test_lock_excludes_concurrent_holders(
        self, connector: Connector, connector_factory: ConnectorFactory
    ) -> None:
        _need(connector, "locks")
        name = self._lock_name()
        windows: list[tuple[float, float]] = []
        record = threading.Lock()
        own = [connector_factory() for _ in range(3)]

        def contend(c: Connector) -> list[bytes]:
            for _ in range(5):
                lock = c.lock(name)
                assert lock.acquire(timeout=self.wait_timeout, check_interval=0.01, ttl=30)
                start = time.monotonic()
                time.sleep(0.005)
                end = time.monotonic()
                with record:
                    windows.append((start, end))
                assert lock.release() is True
            return []

        try:
            self._run_consumers(contend, [*own, connector, connector])
        finally:
            for c in own:
                c.close()
        windows.sort()
        assert len(windows) == 25
        for (_, end), (next_start, _) in itertools.pairwise(windows):
            assert end <= next_start, "two holders held the lock at once"

    # Bad input and lifecycle ------------------------------------------------

    @pytest.mark.parametrize(
        ("call", "field"),
        [
            (lambda c, q: c.queue_push(q, "text"), "item"),
            (lambda c, q: c.queue_push(q, b"x", priority="LOW"), "priority"),
            (lambda c, q: c.queue_push(q, b"x", consumable_from="soon"), "consumable_from"),
            (lambda c, q: c.queue_push_bulk(q, [b"ok", 3]), "items[1]"),
            (lambda c, q: c.queue_push(q, b"x", priority=None), "priority"),
            (lambda c, q: c.queue_push("", b"x"), "queue_name"),
            (lambda c, q: c.queue_pop_bulk(q, 0), "number_of_items"),
            (lambda c, q: c.queue_reserve(q, 0, 30), "number_of_items"),
            (lambda c, q: c.queue_reserve(q, 1, 0), "lease_seconds"),
            (lambda c, q: c.queue_reserve(q, 1, -5), "lease_seconds"),
            (lambda c, q: c.queue_ack(q, "receipt"), "receipts"),
            (lambda c, q: c.queue_extend(q, [], float("nan")), "lease_seconds"),
            (lambda c, q: c.key_set("k", "text"), "value"),
            (lambda c, q: c.lock(""), "name"),
        ],
    )
    def test_bad_input_names_the_field(
        self, connector: Connector, queue: str, call: Callable[[Connector, str], object], field: str
    ) -> None:
        with pytest.raises(ConfigError) as caught:
            call(connector, queue)
        assert isinstance(caught.value, SergeantError)
        assert field in str(caught.value)
        assert connector.queue_length(queue, include_delayed=True) == 0

    @pytest.mark.parametrize(
        ("call", "field"),
        [
            (lambda c: c.queue_push(_SURROGATE, b"x"), "queue_name"),
            (lambda c: c.queue_push_bulk(_SURROGATE, [b"x"]), "queue_name"),
            (lambda c: c.queue_pop(_SURROGATE), "queue_name"),
            (lambda c: c.queue_pop_bulk(_SURROGATE, 5), "queue_name"),
            (lambda c: c.queue_length(_SURROGATE, True), "queue_name"),
            (lambda c: c.queue_delete(_SURROGATE), "queue_name"),
            (lambda c: c.queue_stats(_SURROGATE), "queue_name"),
            (lambda c: c.queue_reserve(_SURROGATE, 1, 30), "queue_name"),
            (lambda c: c.queue_ack(_SURROGATE, ["r"]), "queue_name"),
            (lambda c: c.queue_ack_and_reserve(_SURROGATE, [], 1, 30), "queue_name"),
            (lambda c: c.queue_release(_SURROGATE, ["r"]), "queue_name"),
            (lambda c: c.queue_extend(_SURROGATE, ["r"], 30), "queue_name"),
            (lambda c: c.queue_push(f"ok-{_SURROGATE}-ok", b"x"), "queue_name"),
            (lambda c: c.key_set(_SURROGATE, b"v"), "key"),
            (lambda c: c.key_get(_SURROGATE), "key"),
            (lambda c: c.key_delete(_SURROGATE), "key"),
            (lambda c: c.lock(_SURROGATE), "name"),
        ],
    )
    def test_names_that_are_not_unicode_text_are_refused(
        self, connector: Connector, call: Callable[[Connector], object], field: str
    ) -> None:
        """A lone surrogate (e.g. from ``os.fsdecode`` of bad bytes) cannot be stored
        as a name anywhere: ConfigError naming the field, not UnicodeEncodeError."""
        with pytest.raises(ConfigError, match=field):
            call(connector)

    def test_bad_lock_ttl_names_the_field(self, connector: Connector) -> None:
        _need(connector, "locks")
        with pytest.raises(ConfigError, match="ttl"):
            connector.lock(self._lock_name()).acquire(timeout=0, ttl=0)

    def test_close_twice_and_context_manager(self, connector_factory: ConnectorFactory) -> None:
        with connector_factory() as connector:
            queue = f"kit-{uuid.uuid4().hex[:12]}"
            connector.queue_push(queue, b"x")
            assert connector.queue_pop(queue) == b"x"
        connector.close()
        connector.close()
