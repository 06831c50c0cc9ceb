"""The in-process connector: one store per ``name`` param, shared by the process's threads."""

from __future__ import annotations

import functools
import itertools
import math
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import attrs
from sergeant.connector import Connector, Delivery, Lock, NodeStats, Priority, TokenLock
from sergeant.validation import (
    build_params,
    check_consumable_from,
    check_count,
    check_item,
    check_items,
    check_name,
    check_positive,
    check_priority,
    check_queue_name,
    check_receipts,
    non_empty_str,
)

__all__ = ["MemoryConnector", "check_params"]

_RANK = {"HIGH": 0, "NORMAL": 1}


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
    rank: int
    seq: int
    visible_at: float
    deliveries: int = 0
    receipt: str | None = None
    lease_until: float | None = None


@attrs.define
class _Store:
    guard: threading.Lock = attrs.field(factory=threading.Lock)
    queues: dict[str, dict[int, _Entry]] = attrs.field(factory=dict)
    keys: dict[str, bytes] = attrs.field(factory=dict)
    locks: dict[str, tuple[str, float]] = attrs.field(factory=dict)
    sequence: itertools.count[int] = attrs.field(factory=itertools.count)


_STORES: dict[str, _Store] = {}
_STORES_GUARD = threading.Lock()


def _holder(store: _Store, name: str, now: float) -> str | None:
    held = store.locks.get(name)
    if held is None or held[1] <= now:
        store.locks.pop(name, None)
        return None
    return held[0]


def _release(store: _Store, name: str, token: str) -> bool:
    """Free lock ``name`` if ``token`` still holds it (the owner check)."""
    with store.guard:
        if _holder(store, name, time.time()) == token:
            del store.locks[name]
            return True
        return False


class MemoryLock(TokenLock):
    """A lock held in the store; :class:`sergeant.connector.TokenLock` does the rest
    (owner tokens, the acquire loop, the checks, freeing a collected lock)."""

    def __init__(self, store: _Store, name: str) -> None:
        super().__init__(name)
        self.store = store

    def try_acquire(self, token: str, seconds: int) -> bool:
        with self.store.guard:
            now = time.time()
            if _holder(self.store, self.name, now) is not None:
                return False
            self.store.locks[self.name] = (token, now + seconds)
            return True

    def extend(self, token: str, seconds: int) -> bool:
        with self.store.guard:
            now = time.time()
            if _holder(self.store, self.name, now) != token:
                return False
            self.store.locks[self.name] = (token, now + seconds)
            return True

    def exists(self) -> bool:
        with self.store.guard:
            return _holder(self.store, self.name, time.time()) is not None

    def seconds_left(self) -> int | None:
        with self.store.guard:
            now = time.time()
            if _holder(self.store, self.name, now) is None:
                return None
            return math.ceil(self.store.locks[self.name][1] - now)

    def token_releaser(self) -> Callable[[str], bool]:
        return functools.partial(_release, self.store, self.name)


class MemoryConnector(Connector):
    """Everything in a dict guarded by one lock; for tests and as an example."""

    type_name: ClassVar[str] = "memory"

    def __init__(self, **params: object) -> None:
        self.params = build_params(MemoryParams, params, where="connector 'memory' params")
        with _STORES_GUARD:
            self._store = _STORES.setdefault(self.params.name, _Store())

    def __repr__(self) -> str:
        return f"MemoryConnector(name={self.params.name!r})"

    # helpers ------------------------------------------------------------

    def _queue(self, queue_name: str) -> dict[int, _Entry]:
        return self._store.queues.setdefault(check_queue_name(queue_name), {})

    def _ready(self, queue: dict[int, _Entry], now: float) -> list[_Entry]:
        ready = [
            e
            for e in queue.values()
            if e.visible_at <= now and (e.lease_until is None or e.lease_until <= now)
        ]
        ready.sort(key=lambda e: (e.rank, e.seq))
        return ready

    def _leased(self, queue: dict[int, _Entry], receipt: str, now: float) -> _Entry | None:
        seq_text, _, _ = receipt.partition(".")
        entry = queue.get(int(seq_text)) if seq_text.isdigit() else None
        if entry is None or entry.receipt != receipt or entry.lease_until is None:
            return None
        return entry if entry.lease_until > now else None

    # queues ---------------------------------------------------------------

    def queue_push(
        self,
        queue_name: str,
        item: bytes,
        priority: Priority = "NORMAL",
        consumable_from: float | None = None,
    ) -> bool:
        return self.queue_push_bulk(queue_name, [check_item(item)], priority, consumable_from)

    def queue_push_bulk(
        self,
        queue_name: str,
        items: Iterable[bytes],
        priority: Priority = "NORMAL",
        consumable_from: float | None = None,
    ) -> bool:
        rank = _RANK[check_priority(priority)]
        visible_at = check_consumable_from(consumable_from) or 0.0
        checked = check_items(items)
        with self._store.guard:
            queue = self._queue(queue_name)
            for item in checked:
                seq = next(self._store.sequence)
                queue[seq] = _Entry(item, rank, seq, visible_at)
        return True

    def queue_pop(self, queue_name: str) -> bytes | None:
        items = self.queue_pop_bulk(queue_name, 1)
        return items[0] if items else None

    def queue_pop_bulk(self, queue_name: str, number_of_items: int) -> list[bytes]:
        count = check_count("number_of_items", number_of_items)
        with self._store.guard:
            queue = self._queue(queue_name)
            taken = self._ready(queue, time.time())[:count]
            for entry in taken:
                del queue[entry.seq]
            return [entry.item for entry in taken]

    def queue_length(self, queue_name: str, include_delayed: bool = False) -> int:
        with self._store.guard:
            queue = self._queue(queue_name)
            now = time.time()
            if include_delayed:
                return sum(
                    1 for e in queue.values() if e.lease_until is None or e.lease_until <= now
                )
            return len(self._ready(queue, now))

    def queue_delete(self, queue_name: str) -> bool:
        with self._store.guard:
            return bool(self._store.queues.pop(check_queue_name(queue_name), None))

    def queue_reserve(
        self, queue_name: str, number_of_items: int, lease_seconds: float
    ) -> list[Delivery]:
        count = check_count("number_of_items", number_of_items)
        lease = check_positive("lease_seconds", lease_seconds)
        with self._store.guard:
            now = time.time()
            taken = self._ready(self._queue(queue_name), now)[:count]
            for entry in taken:
                entry.deliveries += 1
                entry.receipt = f"{entry.seq}.{secrets.token_hex(6)}"
                entry.lease_until = now + lease
            return [Delivery(e.item, e.receipt, e.deliveries) for e in taken if e.receipt]

    def queue_ack(self, queue_name: str, receipts: Sequence[str]) -> int:
        checked = check_receipts(receipts)
        with self._store.guard:
            queue, now, done = self._queue(queue_name), time.time(), 0
            for receipt in checked:
                entry = self._leased(queue, receipt, now)
                if entry is not None:
                    del queue[entry.seq]
                    done += 1
            return done

    def queue_release(
        self, queue_name: str, receipts: Sequence[str], consumable_from: float | None = None
    ) -> int:
        checked = check_receipts(receipts)
        visible_at = check_consumable_from(consumable_from) or 0.0
        with self._store.guard:
            queue, now, done = self._queue(queue_name), time.time(), 0
            for receipt in checked:
                entry = self._leased(queue, receipt, now)
                if entry is not None:
                    entry.receipt, entry.lease_until = None, None
                    entry.visible_at = visible_at
                    entry.seq = next(self._store.sequence)
                    queue[entry.seq] = queue.pop(int(receipt.partition(".")[0]))
                    done += 1
            return done

    def queue_extend(self, queue_name: str, receipts: Sequence[str], lease_seconds: float) -> int:
        checked = check_receipts(receipts)
        lease = check_positive("lease_seconds", lease_seconds)
        with self._store.guard:
            queue, now, done = self._queue(queue_name), time.time(), 0
            for receipt in checked:
                entry = self._leased(queue, receipt, now)
                if entry is not None:
                    entry.lease_until = now + lease
                    done += 1
            return done

    def queue_stats(self, queue_name: str) -> list[NodeStats]:
        with self._store.guard:
            queue, now = self._queue(queue_name), time.time()
            in_flight = sum(1 for e in queue.values() if e.lease_until and e.lease_until > now)
            ready = len(self._ready(queue, now))
            delayed = len(queue) - in_flight - ready
            return [NodeStats(f"memory:{self.params.name}", ready, delayed, in_flight)]

    # keys and locks -----------------------------------------------------------

    def queue_names(self) -> list[str]:
        with self._store.guard:
            return sorted(name for name, queue in self._store.queues.items() if queue)

    def key_set(self, key: str, value: bytes) -> bool:
        check_item(value, "value")
        with self._store.guard:
            new = check_name(key, "key") not in self._store.keys
            self._store.keys[key] = value
            return new

    def key_get(self, key: str) -> bytes | None:
        with self._store.guard:
            return self._store.keys.get(check_name(key, "key"))

    def key_delete(self, key: str) -> bool:
        with self._store.guard:
            return self._store.keys.pop(check_name(key, "key"), None) is not None

    def lock(self, name: str) -> Lock:
        return MemoryLock(self._store, check_name(name, "name"))

    def close(self) -> None:
        """Nothing to release: the store lives as long as the process."""
