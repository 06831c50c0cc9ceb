"""The in-process connector: one store per ``name`` param, shared by the process's threads.

The worked example of docs/writing-a-connector.md: :class:`~sergeant.connector.Connector`
checks every argument and calls the ``do_*`` primitives below with clean values.
"""

from __future__ import annotations

import functools
import itertools
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

import attrs
from sergeant.connector import (
    BASIC,
    PEEK,
    Batch,
    Connector,
    Delivery,
    NodeStats,
    Priority,
    Receipts,
    TokenLock,
)
from sergeant.validation import build_params, non_empty_str

__all__ = ["MemoryConnector", "check_params"]


@attrs.frozen
class MemoryParams:
    """``name``: connectors built with the same name share one store."""

    name: str = attrs.field(default="default", validator=non_empty_str)


def check_params(params: Mapping[str, Any]) -> None:
    """The ``sergeant.connector_params`` entry point: ``sergeant.config.Connector``
    checks params with it at construction, without building a connector."""
    build_params(MemoryParams, params, where="connector 'memory' params")


@attrs.define
class _Entry:
    item: bytes
    rank: int  # 0 for HIGH, 1 for NORMAL
    seq: int
    visible_at: float
    deliveries: int = 0
    receipt: str | None = None
    lease_until: float = 0.0

    def leased(self, now: float) -> bool:
        return self.lease_until > now


@attrs.define
class _Store:
    guard: threading.Lock = attrs.field(factory=threading.Lock)
    queues: dict[str, dict[int, _Entry]] = attrs.field(factory=dict)
    keys: dict[str, bytes] = attrs.field(factory=dict)
    locks: dict[str, tuple[str, float]] = attrs.field(factory=dict)  # name -> (token, until)
    sequence: itertools.count[int] = attrs.field(factory=itertools.count)

    def holder(self, name: str) -> str | None:
        """The token holding lock ``name``, or None once it expired (the guard is held)."""
        token, until = self.locks.get(name, ("", 0.0))
        return token if until > time.time() else None

    def release(self, name: str, token: str) -> bool:
        """Free lock ``name`` if ``token`` still holds it (the owner check)."""
        with self.guard:
            return self.holder(name) == token and self.locks.pop(name) is not None


_STORES: dict[str, _Store] = {}
_STORES_GUARD = threading.Lock()


class MemoryLock(TokenLock):
    """A lock held in the store; :class:`sergeant.connector.TokenLock` does the rest
    (owner tokens, the acquire loop, the checks, freeing a collected lock)."""

    def __init__(self, store: _Store, name: str) -> None:
        super().__init__(name)
        self.store = store

    def _hold_if(self, holder: str | None, token: str, seconds: int) -> bool:
        with self.store.guard:
            if self.store.holder(self.name) != holder:
                return False
            self.store.locks[self.name] = (token, time.time() + seconds)
            return True

    def try_acquire(self, token: str, seconds: int) -> bool:
        return self._hold_if(None, token, seconds)

    def extend(self, token: str, seconds: int) -> bool:
        return self._hold_if(token, token, seconds)

    def seconds_left(self) -> int | None:
        with self.store.guard:
            left = self.store.locks.get(self.name, ("", 0.0))[1] - time.time()
        return math.ceil(left) if left > 0 else None

    def token_releaser(self) -> Callable[[str], bool]:
        # Bound to the store, not the lock, so a dropped lock can still be freed.
        return functools.partial(self.store.release, self.name)


class MemoryConnector(Connector):
    """Everything in a dict guarded by one lock; for tests and as an example."""

    type_name: ClassVar[str] = "memory"
    capabilities: ClassVar[frozenset[str]] = BASIC | {PEEK}

    def __init__(self, **params: object) -> None:
        self.params = build_params(MemoryParams, params, where="connector 'memory' params")
        with _STORES_GUARD:
            self._store = _STORES.setdefault(self.params.name, _Store())

    def __repr__(self) -> str:
        return f"MemoryConnector(name={self.params.name!r})"

    def _queue(self, queue_name: str) -> dict[int, _Entry]:
        return self._store.queues.setdefault(queue_name, {})

    def _ready(self, queue_name: str, now: float) -> list[_Entry]:
        """Ready entries (expired leases included) in hand-out order (the guard is held)."""
        ready = [e for e in self._queue(queue_name).values() if e.visible_at <= now]
        return sorted((e for e in ready if not e.leased(now)), key=lambda e: (e.rank, e.seq))

    def _leased(self, queue_name: str, receipts: Receipts) -> Iterator[_Entry]:
        """The entries whose lease the receipts still hold (the guard is held)."""
        queue, now = self._queue(queue_name), time.time()
        for receipt in receipts:
            seq_text, _, _ = receipt.partition(".")
            entry = queue.get(int(seq_text)) if seq_text.isdigit() else None
            if entry is not None and entry.receipt == receipt and entry.leased(now):
                yield entry

    def do_push(
        self, queue_name: str, items: list[bytes], priority: Priority, consumable_from: float | None
    ) -> None:
        with self._store.guard:
            queue = self._queue(queue_name)
            for item in items:
                seq = next(self._store.sequence)
                queue[seq] = _Entry(item, int(priority == "NORMAL"), seq, consumable_from or 0.0)

    def do_pop(self, queue_name: str, count: int) -> list[bytes]:
        with self._store.guard:
            taken = self._ready(queue_name, time.time())[:count]
            for entry in taken:
                del self._queue(queue_name)[entry.seq]
            return [entry.item for entry in taken]

    def do_peek(self, queue_name: str, count: int) -> list[bytes]:
        with self._store.guard:
            return [entry.item for entry in self._ready(queue_name, time.time())[:count]]

    def do_length(self, queue_name: str, include_delayed: bool) -> int:
        with self._store.guard:
            now, entries = time.time(), self._queue(queue_name).values()
            if not include_delayed:
                return len(self._ready(queue_name, now))
            return sum(1 for e in entries if not e.leased(now))

    def do_delete(self, queue_name: str) -> bool:
        with self._store.guard:
            return bool(self._store.queues.pop(queue_name, None))

    def do_reserve(self, queue_name: str, count: int, lease_seconds: float) -> Batch:
        with self._store.guard:
            now = time.time()
            taken = self._ready(queue_name, now)[:count]
            for entry in taken:
                entry.deliveries += 1
                entry.receipt = f"{entry.seq}.{secrets.token_hex(6)}"
                entry.lease_until = now + lease_seconds
            return Batch(Delivery(e.item, e.receipt or "", e.deliveries) for e in taken)

    def do_ack(self, queue_name: str, receipts: Receipts) -> int:
        with self._store.guard:
            acked = list(self._leased(queue_name, receipts))
            for entry in acked:
                del self._queue(queue_name)[entry.seq]
            return len(acked)

    def do_release(self, queue_name: str, receipts: Receipts, consumable_from: float | None) -> int:
        with self._store.guard:
            queue, released = self._queue(queue_name), list(self._leased(queue_name, receipts))
            for entry in released:  # back at the end of its priority, as if pushed again
                del queue[entry.seq]
                entry.receipt, entry.lease_until = None, 0.0
                entry.visible_at, entry.seq = consumable_from or 0.0, next(self._store.sequence)
                queue[entry.seq] = entry
            return len(released)

    def do_extend(self, queue_name: str, receipts: Receipts, lease_seconds: float) -> int:
        with self._store.guard:
            extended = list(self._leased(queue_name, receipts))
            for entry in extended:
                entry.lease_until = time.time() + lease_seconds
            return len(extended)

    def do_stats(self, queue_name: str) -> list[NodeStats]:
        with self._store.guard:
            now, entries = time.time(), self._queue(queue_name).values()
            in_flight = sum(1 for e in entries if e.leased(now))
            ready = len(self._ready(queue_name, now))
            delayed = len(entries) - in_flight - ready
            return [NodeStats(f"memory:{self.params.name}", ready, delayed, in_flight)]

    def do_queue_names(self) -> list[str]:
        with self._store.guard:
            return [name for name, queue in self._store.queues.items() if queue]

    def do_key_set(self, key: str, value: bytes) -> bool:
        with self._store.guard:
            new = key not in self._store.keys
            self._store.keys[key] = value
            return new

    def do_key_get(self, key: str) -> bytes | None:
        with self._store.guard:
            return self._store.keys.get(key)

    def do_key_delete(self, key: str) -> bool:
        with self._store.guard:
            return self._store.keys.pop(key, None) is not None

    def do_lock(self, name: str) -> MemoryLock:
        return MemoryLock(self._store, name)

    def close(self) -> None:
        """Nothing to release: the store lives as long as the process."""
