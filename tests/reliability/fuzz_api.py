"""Run one fuzzed connector API call (:class:`fuzz_values.Call`) and judge it.

Good calls run with a little set-up and a round-trip check (what was pushed
pops back byte for byte, reserved items match, receipts settle); borderline
calls run the same way without the check; bad calls run bare and must raise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fuzz_harness import Tally
from fuzz_values import Call
from sergeant.connector import Connector

__all__ = ["run_call"]

Check = Callable[[bool, str], None]
_SEED = [b"first", b"\xff second", b""]


def _fresh(connector: Connector, queue: str, items: list[bytes]) -> None:
    connector.queue_delete(queue)
    if items:
        connector.queue_push_bulk(queue, items)


def _settle_body(connector: Connector, call: Call, check: Check) -> None:
    a = call.args
    queue = a["queue_name"]
    _fresh(connector, queue, _SEED[:2])
    real = [d.receipt for d in connector.queue_reserve(queue, 2, 60)]
    receipts = real + list(a["receipts"])
    if call.method == "queue_ack":
        check(connector.queue_ack(queue, receipts) == 2, "ack counts the live receipts")
        check(connector.queue_length(queue, True) == 0, "acked items are gone")
    elif call.method == "queue_release":
        released = connector.queue_release(queue, receipts, a["consumable_from"])
        check(released == 2, "release counts the live receipts")
        check(connector.queue_pop_bulk(queue, 5) == _SEED[:2], "released items pop back")
    else:
        check(connector.queue_extend(queue, receipts, a["lease_seconds"]) == 2, "extend counts")
    connector.queue_delete(queue)


def _lock_body(connector: Connector, call: Call, check: Check, bad: bool) -> Any:
    a = call.args
    lock = connector.lock(a["name"])
    holder = None
    try:
        if call.method == "lock.set_ttl":
            lock.acquire(timeout=0, ttl=5)
            result = lock.set_ttl(a["ttl"])
            check(result is True, "set_ttl of a held lock")
            if a["ttl"] == 0:
                check(not lock.is_locked(), "set_ttl(0) frees the lock")
            else:
                check((lock.get_ttl() or 0) >= 1, "a held lock has a ttl")
            return result
        if bad and call.field in ("timeout", "check_interval"):
            holder = connector.lock(a["name"])  # held: a bad timeout must not wait forever
            holder.acquire(timeout=0, ttl=5)
        result = lock.acquire(
            timeout=a["timeout"], check_interval=a["check_interval"], ttl=a["ttl"]
        )
        check(result is True, "acquire of a free lock")
        check(lock.is_locked(), "an acquired lock is locked")
        return result
    finally:
        lock.release()
        if holder is not None:
            holder.release()


def _body(connector: Connector, call: Call, check: Check) -> Any:
    """The call with its set-up and checks (``check`` is a no-op for borderline calls)."""
    a = call.args
    method = call.method
    if method.startswith("lock."):
        return _lock_body(connector, call, check, bad=False)
    if method in ("queue_ack", "queue_release", "queue_extend"):
        return _settle_body(connector, call, check)
    if method.startswith("key_"):
        key = a["key"]
        if method == "key_set":
            connector.key_delete(key)
            check(connector.key_set(key, a["value"]) is True, "key_set of a new key")
            check(connector.key_get(key) == a["value"], "key_get returns the value")
        elif method == "key_get":
            connector.key_delete(key)
            check(connector.key_get(key) is None, "key_get of a missing key")
        else:
            connector.key_set(key, b"v")
            check(connector.key_delete(key) is True, "key_delete of a stored key")
        connector.key_delete(key)
        return None
    queue = a["queue_name"]
    if method in ("queue_push", "queue_push_bulk"):
        items = [a["item"]] if method == "queue_push" else list(a["items"])
        _fresh(connector, queue, [])
        if method == "queue_push":
            connector.queue_push(queue, a["item"], a["priority"], a["consumable_from"])
        else:
            connector.queue_push_bulk(queue, a["items"], a["priority"], a["consumable_from"])
        got = connector.queue_pop_bulk(queue, len(items) + 1)
        check(got == items, "pushed items pop back byte for byte, in order")
    elif method == "queue_pop":
        _fresh(connector, queue, _SEED[:1])
        check(connector.queue_pop(queue) == _SEED[0], "pop returns the item")
        check(connector.queue_pop(queue) is None, "pop of an empty queue")
    elif method == "queue_pop_bulk":
        _fresh(connector, queue, _SEED)
        got = connector.queue_pop_bulk(queue, a["number_of_items"])
        check(got == _SEED[: a["number_of_items"]], "pop_bulk returns the first items")
    elif method == "queue_length":
        _fresh(connector, queue, _SEED)
        check(connector.queue_length(queue) == len(_SEED), "length counts the items")
    elif method == "queue_delete":
        _fresh(connector, queue, _SEED)
        check(connector.queue_delete(queue) is True, "delete of a queue with items")
    elif method == "queue_reserve":
        _fresh(connector, queue, _SEED)
        started = time.monotonic()
        handed = connector.queue_reserve(queue, a["number_of_items"], a["lease_seconds"])
        in_order = [d.item for d in handed] == _SEED[: a["number_of_items"]]
        check(in_order, "reserve hands out in order")
        acked = connector.queue_ack(queue, [d.receipt for d in handed])
        # A lease shorter than the time the two calls took may have run out first
        # (a busy machine): then the ack may count fewer, never more.
        if time.monotonic() - started < a["lease_seconds"] / 2:
            check(acked == len(handed), "reserved items ack")
        else:
            check(0 <= acked <= len(handed), "reserved items ack at most once")
    connector.queue_delete(queue)
    return None


def _bare(connector: Connector, call: Call) -> Any:
    """A bad call as a user would make it (locks: acquired with a holder where it matters)."""
    if call.method.startswith("lock."):
        return _lock_body(connector, call, lambda ok, what: None, bad=True)
    return getattr(connector, call.method)(*call.args.values())


def run_call(tally: Tally, connector: Connector, call: Call) -> None:
    """Run ``call`` on ``connector`` and let ``tally`` judge the outcome."""
    example = repr(call)
    if call.expect == "good":

        def check(ok: bool, what: str) -> None:
            tally.check(ok, what, example)

        tally.expect_ok(example, lambda: _body(connector, call, check))
    elif call.expect == "borderline":
        tally.expect_either(example, call.field, lambda: _body(connector, call, _ignore))
    else:
        tally.expect_error(example, (call.field,), lambda: _bare(connector, call))


def _ignore(_ok: bool, _what: str) -> None:
    """Borderline values need not round-trip (a due time of 1e300 never comes)."""
