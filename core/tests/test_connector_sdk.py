"""The connector SDK: core checks arguments once and calls a backend's primitives.

A small in-test backend records each primitive call, so these tests prove what
reaches a backend (clean values, the batch handle, nothing at all for bad input)
and that a class whose declared capabilities and primitives disagree is refused
when it is defined.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from sergeant.connector import (
    ACK_AND_RESERVE,
    BASIC,
    PEEK,
    PREFETCH,
    Batch,
    Connector,
    Delivery,
    Receipts,
)
from sergeant.errors import ConfigError, ItemTooLargeError, StorageError


class Recording(Connector):
    """Records primitive calls; reserves hand out ``b'x'`` items with a fixed handle."""

    type_name: ClassVar[str] = "recording"
    capabilities: ClassVar[frozenset[str]] = frozenset({"queue", "reserve"})

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def do_push(self, *args: Any) -> None:
        self.calls.append(("push", *args))

    def do_pop(self, queue_name: str, count: int) -> list[bytes]:
        self.calls.append(("pop", queue_name, count))
        return []

    def do_length(self, queue_name: str, include_delayed: bool) -> int:
        return 0

    def do_delete(self, queue_name: str) -> bool:
        return False

    def do_reserve(self, queue_name: str, count: int, lease_seconds: float) -> Batch:
        self.calls.append(("reserve", queue_name, count, lease_seconds))
        return Batch([Delivery(b"x", f"r{i}", 1) for i in range(count)], handle=("call", count))

    def do_ack(self, queue_name: str, receipts: Receipts) -> int:
        self.calls.append(("ack", list(receipts), receipts.handle))
        return len(receipts)

    def do_release(self, queue_name: str, receipts: Receipts, consumable_from: float | None) -> int:
        self.calls.append(("release", list(receipts), consumable_from))
        return len(receipts)

    def do_extend(self, queue_name: str, receipts: Receipts, lease_seconds: float) -> int:
        return len(receipts)

    def close(self) -> None:
        """Nothing to close."""


class Combined(Recording):
    """Declares the one-round-trip ack-and-reserve."""

    capabilities: ClassVar[frozenset[str]] = Recording.capabilities | {ACK_AND_RESERVE}

    def do_ack_and_reserve(
        self, queue_name: str, receipts: Receipts, count: int, lease_seconds: float
    ) -> tuple[int, Batch]:
        self.calls.append(("ack_and_reserve", list(receipts), receipts.handle, count))
        return len(receipts), Batch()


def test_a_whole_batch_is_acked_by_its_handle() -> None:
    connector = Recording()
    batch = connector.queue_reserve("q", 3, 30)
    assert isinstance(batch, Batch)
    assert [d.receipt for d in batch] == ["r0", "r1", "r2"]
    assert connector.queue_ack("q", batch.receipts()) == 3
    assert connector.calls[-1] == ("ack", ["r0", "r1", "r2"], ("call", 3))


def test_other_receipts_arrive_checked_without_a_handle() -> None:
    connector = Recording()
    connector.queue_ack("q", ("r1", "r2"))
    assert connector.calls[-1] == ("ack", ["r1", "r2"], None)


def test_bad_arguments_never_reach_the_backend() -> None:
    connector = Recording()
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: connector.queue_push("", b"x"), "queue_name"),
        (lambda: connector.queue_push("q", "text"), "item"),  # type: ignore[arg-type]
        (lambda: connector.queue_push("q", b"x", "URGENT"), "priority"),  # type: ignore[arg-type]
        (lambda: connector.queue_push_bulk("q", [b"x", 3]), "items[1]"),  # type: ignore[list-item]
        (lambda: connector.queue_pop_bulk("q", 0), "number_of_items"),
        (lambda: connector.queue_reserve("q", 1, float("nan")), "lease_seconds"),
        (lambda: connector.queue_ack("q", "r1"), "receipts"),
        (lambda: connector.queue_release("q", ["r1"], float("inf")), "consumable_from"),
        (lambda: connector.queue_ack_and_reserve("q", ["r1"], 1, -1), "lease_seconds"),
    ]
    for call, field in cases:
        with pytest.raises(ConfigError) as caught:
            call()
        assert caught.value.field == field, (field, caught.value)
    assert connector.calls == []


class Small(Recording):
    """A storage that holds items of at most 4 bytes, keys included."""

    capabilities: ClassVar[frozenset[str]] = Recording.capabilities | {"keys"}
    max_item_bytes: ClassVar[int | None] = 4

    def do_key_set(self, key: str, value: bytes) -> bool:
        self.calls.append(("key_set", key, value))
        return True

    def do_key_get(self, key: str) -> bytes | None:
        return None

    def do_key_delete(self, key: str) -> bool:
        return False


def test_an_item_over_max_item_bytes_is_refused_by_name_before_anything_is_stored() -> None:
    connector = Small()
    cases: list[tuple[Callable[[], object], str, int]] = [
        (lambda: connector.queue_push("q", b"12345"), "item", 5),
        (lambda: connector.queue_push_bulk("q", [b"1", b"1234", b"123456"]), "items[2]", 6),
        (lambda: connector.key_set("k", b"x" * 9), "value", 9),
    ]
    for call, field, size in cases:
        with pytest.raises(ItemTooLargeError) as caught:
            call()
        assert caught.value.field == field
        assert f"invalid {field}: {size} bytes;" in str(caught.value)
        assert "at most 4 bytes" in caught.value.fix
        assert isinstance(caught.value, ConfigError)
        assert isinstance(caught.value, StorageError)
    assert connector.calls == []
    connector.queue_push_bulk("q", [b"1234", b""])
    connector.key_set("k", b"1234")
    assert [call[0] for call in connector.calls] == ["push", "key_set"]


def test_empty_input_calls_no_primitive() -> None:
    connector = Recording()
    assert connector.queue_push_bulk("q", iter([])) is True
    assert connector.queue_ack("q", []) == 0
    assert connector.queue_release("q", []) == 0
    assert connector.calls == []


def test_missing_capabilities_are_clear_errors() -> None:
    connector = Recording()
    with pytest.raises(StorageError, match=r"does not offer queue_peek\(\).*'peek'"):
        connector.queue_peek("q", 1)
    with pytest.raises(StorageError, match="'keys'"):
        connector.key_get("k")
    with pytest.raises(ConfigError, match="no priorities") as caught:
        connector.queue_push("q", b"x", "HIGH")
    assert caught.value.field == "priority"
    with pytest.raises(ConfigError, match="cannot delay") as caught:
        connector.queue_push("q", b"x", consumable_from=1e9)
    assert caught.value.field == "consumable_from"
    assert connector.calls == []


def test_ack_and_reserve_is_two_primitives_unless_declared() -> None:
    plain = Recording()
    plain.queue_ack_and_reserve("q", ["a"], 2, 10)
    assert [call[0] for call in plain.calls] == ["ack", "reserve"]
    combined = Combined()
    batch = combined.queue_reserve("q", 2, 10)
    combined.queue_ack_and_reserve_begin("q", batch.receipts(), 5, 10)()
    assert combined.calls[-1] == ("ack_and_reserve", ["r0", "r1"], ("call", 2), 5)


def _define(capabilities: frozenset[str], **primitives: Any) -> type[Connector]:
    namespace = {"type_name": "x", "capabilities": capabilities, **primitives}
    return type("Declared", (Recording,), namespace)


def test_declaring_without_implementing_is_refused_at_definition() -> None:
    with pytest.raises(TypeError, match=r"declares the capability 'keys' but does not implement"):
        _define(frozenset({"queue", "keys"}))
    with pytest.raises(TypeError, match=r"'prefetch'.*do_ack_and_reserve_begin"):
        _define(frozenset({"queue", "reserve", PREFETCH}))


def test_implementing_a_fast_path_without_declaring_it_is_refused() -> None:
    with pytest.raises(TypeError, match=r"implements do_peek\(\) but does not declare .*'peek'"):
        _define(frozenset({"queue"}), do_peek=lambda self, q, n: [])
    with pytest.raises(TypeError, match=r"unknown entries \['turbo'\]"):
        _define(frozenset({"queue", "turbo"}))
    peeking = _define(frozenset({"queue", "reserve", PEEK}), do_peek=lambda self, q, n: [b"p"] * n)
    assert peeking().queue_peek("q", 2) == [b"p", b"p"]  # type: ignore[call-arg]


def test_the_default_declaration_is_every_basic_capability() -> None:
    assert Connector.capabilities == BASIC
    assert {"reserve", "keys", "locks", "stats"} <= BASIC
