"""The ``local`` connector: queues, keys and locks in one SQLite file.

Several processes may open the same file at once, and threads may share one
connector object. Items survive ``kill -9`` of any process (WAL, committed per
call). See :mod:`sergeant_local.schema` for how rows encode readiness and leases.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

from sergeant.connector import CAPABILITIES, Connector, Delivery, Lock, NodeStats, Priority
from sergeant.legacy import MIGRATE_LEGACY, LegacyReport
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
)

from sergeant_local import _clock, _leases, _ready, legacy, schema
from sergeant_local._database import Database, resolve_path
from sergeant_local.lock import LocalLock
from sergeant_local.params import LocalParams

__all__ = ["LocalConnector"]

_RANK = {"HIGH": schema.HIGH, "NORMAL": schema.NORMAL}


def _counts(rows: list[Any], now: float) -> tuple[list[Any], int]:
    """Split a count statement's rows: the ready-table row, and the held items
    whose lease ran out (counted as ready)."""
    main = next(row for row in rows if row[0] == 0)
    expired = sum(_leases.expired_count(row[1], row[2], now) for row in rows if row[0] == 1)
    return main, expired


class LocalConnector(Connector):
    """Every queue, key and lock in the SQLite file ``file_path``.

    :param file_path: the database file (default: :func:`~sergeant_local.default_file_path`).
    :param busy_timeout_seconds: how long to wait for other processes' writes (30).
    :param synchronous: ``'NORMAL'`` (default) or ``'FULL'``.
    :raises sergeant.errors.ConfigError: a param is unknown, missing or bad.
    :raises sergeant.errors.StorageError: the file cannot be opened as a database.
    """

    type_name: ClassVar[str] = "local"
    capabilities: ClassVar[frozenset[str]] = CAPABILITIES | {MIGRATE_LEGACY}

    def __init__(self, **params: Any) -> None:
        self.params = build_params(LocalParams, params, where="connector 'local' params")
        self.file_path = resolve_path(self.params.file_path)
        self._db = Database(
            self.file_path,
            busy_timeout=self.params.busy_timeout_seconds,
            synchronous=self.params.synchronous,
        )
        self._issued = _leases.Issued()
        self._clock: _clock.LeaseClock | None = None

    def __repr__(self) -> str:
        return f"LocalConnector(file_path={self.file_path!r})"

    def _lease_now(self, reading: bool = False) -> float:
        """Now on the file's lease clock (see :mod:`sergeant_local._clock`).

        :param reading: for a read: a file with no anchor for this boot yet is
            not written (readers never wait for writers); the anchor it would get
            serves meanwhile.
        """
        clock = self._clock
        if clock is None:
            boot = _clock.boot_id()
            found = self._db.rows(schema.CLOCK_GET, ()) if boot else []
            if not boot or (found and found[0][0] == boot):
                clock = _clock.LeaseClock(float(found[0][1]) if boot else None)
            elif reading:
                return _clock.LeaseClock(time.time() - time.monotonic()).now()
            else:
                clock = self._db.write(lambda c: _clock.LeaseClock.adopt(c, boot))
            self._clock = clock
        return clock.now()

    def _ready_at(self, consumable_from: float | None) -> float:
        """When an item pushed now becomes ready, on the lease clock: at once, or
        after the delay ``consumable_from`` (a wall-clock date) asks for. Ready
        times follow the lease clock like leases do, so a step of the wall clock
        neither holds back what was pushed before it nor lets delays run early."""
        now = self._lease_now()
        return now if consumable_from is None else now + (consumable_from - time.time())

    # Queues ----------------------------------------------------------------

    def queue_push(
        self,
        queue_name: str,
        item: bytes,
        priority: Priority = "NORMAL",
        consumable_from: float | None = None,
    ) -> bool:
        """Append one item; True once it is committed."""
        check_queue_name(queue_name)
        check_item(item)
        rank = _RANK[check_priority(priority)]
        delayed = check_consumable_from(consumable_from)
        visible_at = self._ready_at(delayed)
        self._db.changes(schema.PUSH_ONE, (queue_name, rank, visible_at, item))
        return True

    def queue_push_bulk(
        self,
        queue_name: str,
        items: Iterable[bytes],
        priority: Priority = "NORMAL",
        consumable_from: float | None = None,
    ) -> bool:
        """Append many items in order, all in one transaction; True once committed."""
        check_queue_name(queue_name)
        rank = _RANK[check_priority(priority)]
        delayed = check_consumable_from(consumable_from)
        checked = check_items(items)
        if not checked:
            return True
        visible_at = self._ready_at(delayed)
        self._db.write(lambda c: _ready.push_many(c, queue_name, rank, visible_at, checked))
        return True

    def queue_pop(self, queue_name: str) -> bytes | None:
        """Remove and return the next ready item, or None (at-most-once)."""
        check_queue_name(queue_name)
        now = lease_now = self._lease_now(reading=True)
        found = self._db.rows(schema.POP_ONE_FAST, (queue_name, now, lease_now))
        if not found:  # empty, or a lease may have run out

            def pop(conn: sqlite3.Connection) -> list[Any]:
                _leases.reclaim(conn, queue_name, lease_now, now)
                return conn.execute(schema.POP_ONE, (queue_name, now)).fetchall()

            found = self._db.write(pop)
        return found[0][0] if found else None

    def queue_pop_bulk(self, queue_name: str, number_of_items: int) -> list[bytes]:
        """Remove and return up to ``number_of_items`` ready items, in order."""
        check_queue_name(queue_name)
        count = min(check_count("number_of_items", number_of_items), schema.MAX_COUNT)
        now = lease_now = self._lease_now()

        def pop(conn: sqlite3.Connection) -> list[Any]:
            _leases.reclaim(conn, queue_name, lease_now, now)
            return _ready.take(conn, queue_name, now, count)[0]

        return [row[1] for row in self._db.write(pop)]

    def queue_length(self, queue_name: str, include_delayed: bool = False) -> int:
        """Ready items; with ``include_delayed`` also delayed ones (never reserved ones)."""
        check_queue_name(queue_name)
        now = lease_now = self._lease_now(reading=True)
        sql = schema.LENGTH_ALL if include_delayed else schema.LENGTH_READY
        main, expired = _counts(self._db.rows(sql, (queue_name, now, lease_now)), lease_now)
        return int(main[1]) + expired

    def queue_delete(self, queue_name: str) -> bool:
        """Remove the queue's items, reserved ones included; True if it had any."""
        check_queue_name(queue_name)

        def delete(conn: sqlite3.Connection) -> int:
            ready = conn.execute(schema.ITEMS_DELETE, (queue_name,)).rowcount
            conn.execute(schema.EARLIEST_DELETE, (queue_name,))
            return ready + conn.execute(schema.LEASES_DELETE, (queue_name,)).rowcount

        return self._db.write(delete) > 0

    # Reliable delivery -----------------------------------------------------

    def queue_reserve(
        self, queue_name: str, number_of_items: int, lease_seconds: float
    ) -> list[Delivery]:
        """Hand out up to ``number_of_items`` ready items under a lease, in order.

        Items whose earlier lease ran out are among the ready ones: this is where
        they are reclaimed, with ``deliveries`` one higher.
        """
        check_queue_name(queue_name)
        count = min(check_count("number_of_items", number_of_items), schema.MAX_COUNT)
        lease = check_positive("lease_seconds", lease_seconds)
        return self._ack_and_reserve(queue_name, {}, count, lease)[1]

    def queue_ack_and_reserve(
        self,
        queue_name: str,
        receipts: Sequence[str],
        number_of_items: int,
        lease_seconds: float,
    ) -> tuple[int, list[Delivery]]:
        """Ack ``receipts``, then reserve up to ``number_of_items``, in one transaction."""
        check_queue_name(queue_name)
        count = min(check_count("number_of_items", number_of_items), schema.MAX_COUNT)
        lease = check_positive("lease_seconds", lease_seconds)
        parsed = _leases.parse_receipts(check_receipts(receipts), self._issued)
        return self._ack_and_reserve(queue_name, parsed, count, lease)

    def _ack_and_reserve(
        self, queue_name: str, receipts: _leases.Receipts, count: int, lease: float
    ) -> tuple[int, list[Delivery]]:
        now = lease_now = self._lease_now()

        def run(conn: sqlite3.Connection) -> tuple[int, list[Any], list[_leases.Span]]:
            acked = _leases.ack(conn, queue_name, receipts, lease_now) if receipts else 0
            first = _ready.take_first(conn, queue_name, now, lease_now) if count == 1 else None
            if first is not None and first[0]:
                rows, high, earliest = first
            else:
                earliest = _leases.reclaim(conn, queue_name, lease_now, now)
                rows, high = _ready.take(conn, queue_name, now, count)
            if not rows:
                return acked, rows, []
            spans = _leases.insert(conn, queue_name, rows, high, lease_now + lease)
            _leases.bound(conn, queue_name, lease_now + lease, earliest)
            return acked, rows, spans

        acked, rows, spans = self._db.write(run)
        return acked, _leases.deliveries(rows, spans, self._issued) if rows else []

    def queue_ack(self, queue_name: str, receipts: Sequence[str]) -> int:
        """Remove reserved items for good; how many receipts were still valid."""
        check_queue_name(queue_name)
        parsed = _leases.parse_receipts(check_receipts(receipts), self._issued)
        if not parsed:
            return 0
        now = self._lease_now()
        return self._db.write(lambda c: _leases.ack(c, queue_name, parsed, now))

    def queue_release(
        self, queue_name: str, receipts: Sequence[str], consumable_from: float | None = None
    ) -> int:
        """Put reserved items back, ready at ``consumable_from`` (default now)."""
        check_queue_name(queue_name)
        parsed = _leases.parse_receipts(check_receipts(receipts), self._issued)
        delayed = check_consumable_from(consumable_from)
        if not parsed:
            return 0
        lease_now = self._lease_now()
        visible_at = self._ready_at(delayed)
        return self._db.write(
            lambda c: _leases.release(c, queue_name, parsed, visible_at, lease_now)
        )

    def queue_extend(self, queue_name: str, receipts: Sequence[str], lease_seconds: float) -> int:
        """Renew leases to ``lease_seconds`` from now; how many were still valid."""
        check_queue_name(queue_name)
        parsed = _leases.parse_receipts(check_receipts(receipts), self._issued)
        lease = check_positive("lease_seconds", lease_seconds)
        if not parsed:
            return 0
        now = self._lease_now()
        return self._db.write(lambda c: _leases.extend(c, queue_name, parsed, now + lease, now))

    def queue_stats(self, queue_name: str) -> list[NodeStats]:
        """One row for the file: ready, delayed and in-flight counts."""
        check_queue_name(queue_name)
        now = lease_now = self._lease_now(reading=True)
        main, expired = _counts(
            self._db.rows(schema.STATS, (queue_name, now, lease_now)), lease_now
        )
        ready, delayed, held = int(main[1]) + expired, int(main[2]), int(main[3]) - expired
        return [NodeStats(self.file_path, ready, delayed, held)]

    def queue_names(self) -> list[str]:
        """Every queue with a ready, delayed or reserved item in the file, sorted."""
        return [row[0] for row in self._db.rows(schema.QUEUE_NAMES, ())]

    # Keys and locks ----------------------------------------------------------

    def key_set(self, key: str, value: bytes) -> bool:
        """Store ``value`` under ``key``, overwriting; True when the key was new."""
        check_name(key, "key")
        check_item(value, "value")

        def upsert(conn: sqlite3.Connection) -> bool:
            new = conn.execute(schema.KEY_EXISTS, (key,)).fetchone() is None
            conn.execute(schema.KEY_SET, (key, value))
            return new

        return self._db.write(upsert)

    def key_get(self, key: str) -> bytes | None:
        """The value stored under ``key``, or None."""
        check_name(key, "key")
        found = self._db.rows(schema.KEY_GET, (key,))
        return found[0][0] if found else None

    def key_delete(self, key: str) -> bool:
        """Remove ``key``; True if it existed."""
        check_name(key, "key")
        return self._db.changes(schema.KEY_DELETE, (key,)) == 1

    def lock(self, name: str) -> Lock:
        """A :class:`~sergeant_local.LocalLock` named ``name`` on this file."""
        return LocalLock(self._db, check_name(name, "name"))

    def migrate_legacy(
        self,
        queues: Sequence[str] | None = None,
        *,
        keys: str | bool = True,
        dry_run: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> LegacyReport:
        """Move Sergeant 0.27.0's queues and keys in this file into ours
        (see :mod:`sergeant_local.legacy`); ``keys=True`` moves all of its keys."""
        if queues is not None:
            queues = [check_queue_name(name) for name in queues]
        return legacy.migrate(self._db, queues, keys, dry_run, progress)

    # Lifecycle ---------------------------------------------------------------

    def close(self) -> None:
        """Close the file. Calling it twice is harmless; later calls raise StorageError."""
        self._db.close()
