"""The ``local`` connector: queues, keys and locks in one SQLite file.

Several processes may open the same file at once, and threads may share one
connector object. Items survive ``kill -9`` of any process (WAL, committed per
call). See :mod:`sergeant_local.schema` for how rows encode readiness and leases.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any, ClassVar

from sergeant.connector import (
    ACK_AND_RESERVE,
    BASIC,
    PEEK,
    Batch,
    Connector,
    NodeStats,
    Priority,
    Receipts,
)
from sergeant.legacy import MIGRATE_LEGACY, LegacyReport
from sergeant.validation import build_params

from sergeant_local import _clock, _leases, legacy, schema
from sergeant_local._database import Database, resolve_path
from sergeant_local.lock import LocalLock
from sergeant_local.params import LocalParams

__all__ = ["LocalConnector"]

_RANK = {"HIGH": schema.HIGH, "NORMAL": schema.NORMAL}
_Settle = Callable[..., int]


def _take(conn: sqlite3.Connection, queue: str, now: float, count: int) -> tuple[list[Any], int]:
    """Remove the next ``count`` ready items: their ``(deliveries, item)`` rows in
    hand-out order, ``deliveries`` counting this hand-out, and how many (the first
    ones) are HIGH."""
    rows = conn.execute(schema.PICK, (queue, now, count)).fetchall()
    if not rows:
        return rows, 0
    last = conn.execute(schema.PICK_LAST, (queue, now, len(rows) - 1)).fetchone()
    high = len(rows)
    if last[0] == schema.NORMAL:
        high = conn.execute(schema.TAKE_HIGH, (queue, now)).rowcount
    conn.execute(schema.TAKE_UPTO, (queue, *last))
    return rows, high


class LocalConnector(Connector):
    """Every queue, key and lock in the SQLite file ``file_path``.

    Takes the params of :class:`~sergeant_local.LocalParams`; raises ConfigError
    for a bad one, StorageError when the file cannot be opened as a database.
    """

    type_name: ClassVar[str] = "local"
    #: SQLite's default limit on a value and on a whole row (SQLITE_MAX_LENGTH,
    #: 10**9 bytes), less room for the other columns of the lease row an item
    #: moves into when reserved: an item push takes can always be reserved.
    max_item_bytes: ClassVar[int | None] = 10**9 - 2**16
    capabilities: ClassVar[frozenset[str]] = BASIC | {ACK_AND_RESERVE, PEEK, MIGRATE_LEGACY}

    def __init__(self, **params: Any) -> None:
        self.params = build_params(LocalParams, params, where="connector 'local' params")
        self.file_path = resolve_path(self.params.file_path)
        self._db = Database(
            self.file_path, self.params.busy_timeout_seconds, self.params.synchronous
        )
        self._clock: Callable[[], float] | None = None

    def __repr__(self) -> str:
        return f"LocalConnector(file_path={self.file_path!r})"

    def _lease_now(self, reading: bool = False) -> float:
        """Now on the file's lease clock (see :mod:`sergeant_local._clock`). A call
        only ``reading`` does not write the file's anchor for this boot (readers
        never wait for writers): until someone does, the wall clock serves."""
        if self._clock is None:
            self._clock = _clock.lease_clock(self._db, may_write=not reading)
            if self._clock is None:
                return time.time()
        return self._clock()

    def _ready_at(self, consumable_from: float | None) -> float:
        """When an item pushed now becomes ready, on the lease clock: a delay that
        ``consumable_from`` (a wall-clock date) asks for is kept as a duration."""
        now = self._lease_now()
        return now if consumable_from is None else now + (consumable_from - time.time())

    def _counts(self, queue_name: str) -> tuple[int, int, int]:
        """``(ready, delayed, held)`` in one snapshot; held items whose lease ran
        out count as ready."""
        now = self._lease_now(reading=True)
        rows = self._db.rows(schema.STATS, (queue_name, now))
        _, ready, delayed, held = next(row for row in rows if row[0] == 0)
        expired = sum(_leases.expired_count(row[1], row[2], now) for row in rows if row[0] == 1)
        return ready + expired, delayed, held - expired

    # Queues ----------------------------------------------------------------

    def do_push(
        self, queue_name: str, items: list[bytes], priority: Priority, consumable_from: float | None
    ) -> None:
        key = (queue_name, _RANK[priority], self._ready_at(consumable_from))
        if len(items) == 1:
            self._db.changes(schema.PUSH_ONE, (*key, 0, items[0]))
            return

        def push(conn: sqlite3.Connection) -> None:  # all in one transaction
            last = conn.execute(schema.SEQ_LAST, key).fetchone()[0]
            rows = [(*key, seq, item) for seq, item in enumerate(items, last + 1)]
            conn.executemany(schema.PUSH, rows)

        self._db.write(push)

    def do_pop(self, queue_name: str, count: int) -> list[bytes]:
        now = self._lease_now(reading=True)
        if count == 1:  # one statement, unless a lease of the queue may have run out
            found = self._db.rows(schema.TAKE_ONE, (queue_name, now))
            if found:
                return [found[0][1]]

        def pop(conn: sqlite3.Connection) -> list[Any]:
            _leases.reclaim(conn, queue_name, now)
            return _take(conn, queue_name, now, count)[0]

        return [row[1] for row in self._db.write(pop)]

    def do_peek(self, queue_name: str, count: int) -> list[bytes]:
        """Ready items in hand-out order, those of leases that ran out included:
        when a lease of the queue may have, its items are first put back among
        the ready ones (as the next pop would; no delivery is counted)."""
        now = self._lease_now(reading=True)
        earliest = self._db.rows(schema.EARLIEST, (queue_name,))
        if earliest and earliest[0][0] <= now:
            self._db.write(lambda c: _leases.reclaim(c, queue_name, now))
        return [row[0] for row in self._db.rows(schema.PEEK, (queue_name, now, count))]

    def do_length(self, queue_name: str, include_delayed: bool) -> int:
        ready, delayed, _ = self._counts(queue_name)
        return ready + delayed if include_delayed else ready

    def do_delete(self, queue_name: str) -> bool:
        def delete(conn: sqlite3.Connection) -> int:
            ready = conn.execute(schema.ITEMS_DELETE, (queue_name,)).rowcount
            conn.execute(schema.EARLIEST_DELETE, (queue_name,))
            return ready + conn.execute(schema.LEASES_DELETE, (queue_name,)).rowcount

        return self._db.write(delete) > 0

    # Reliable delivery -----------------------------------------------------

    def do_reserve(self, queue_name: str, count: int, lease_seconds: float) -> Batch:
        return self.do_ack_and_reserve(queue_name, Receipts(), count, lease_seconds)[1]

    def do_ack_and_reserve(
        self, queue_name: str, receipts: Receipts, count: int, lease_seconds: float
    ) -> tuple[int, Batch]:
        """Ack ``receipts`` and reserve up to ``count`` items in one transaction.

        Items whose earlier lease ran out are among the ready ones: this is where
        they are reclaimed, with ``deliveries`` one higher.
        """
        parsed = _leases.parse(receipts) if receipts else {}
        now = self._lease_now()
        until = now + lease_seconds

        def run(conn: sqlite3.Connection) -> tuple[int, list[Any], list[_leases.Span]]:
            acked = _leases.ack(conn, queue_name, parsed, now) if parsed else 0
            rows = conn.execute(schema.TAKE_ONE, (queue_name, now)).fetchall() if count == 1 else []
            if rows:
                high, earliest = int(rows[0][2] == schema.HIGH), rows[0][3]
            else:
                earliest = _leases.reclaim(conn, queue_name, now)
                rows, high = _take(conn, queue_name, now, count)
                if not rows:
                    return acked, rows, []
            spans = _leases.insert(conn, queue_name, rows, high, until)
            _leases.bound(conn, queue_name, until, earliest)
            return acked, rows, spans

        acked, rows, spans = self._db.write(run)
        return acked, _leases.batch(rows, spans)

    def _settle(self, queue_name: str, receipts: Receipts, op: _Settle, *args: float) -> int:
        """``op(connection, queue_name, receipts by row, now, *args)`` in one
        transaction, unless no receipt is well-formed."""
        parsed = _leases.parse(receipts)
        if not parsed:
            return 0
        now = self._lease_now()
        return self._db.write(lambda conn: op(conn, queue_name, parsed, now, *args))

    def do_ack(self, queue_name: str, receipts: Receipts) -> int:
        return self._settle(queue_name, receipts, _leases.ack)

    def do_release(self, queue_name: str, receipts: Receipts, consumable_from: float | None) -> int:
        return self._settle(queue_name, receipts, _leases.release, self._ready_at(consumable_from))

    def do_extend(self, queue_name: str, receipts: Receipts, lease_seconds: float) -> int:
        return self._settle(queue_name, receipts, _leases.extend, lease_seconds)

    def do_stats(self, queue_name: str) -> list[NodeStats]:
        return [NodeStats(self.file_path, *self._counts(queue_name))]

    def do_queue_names(self) -> list[str]:
        return [row[0] for row in self._db.rows(schema.QUEUE_NAMES, ())]

    # Keys and locks ----------------------------------------------------------

    def do_key_set(self, key: str, value: bytes) -> bool:
        def upsert(conn: sqlite3.Connection) -> bool:
            new = conn.execute(schema.KEY_EXISTS, (key,)).fetchone() is None
            conn.execute(schema.KEY_SET, (key, value))
            return new

        return self._db.write(upsert)

    def do_key_get(self, key: str) -> bytes | None:
        found = self._db.rows(schema.KEY_GET, (key,))
        return found[0][0] if found else None

    def do_key_delete(self, key: str) -> bool:
        return self._db.changes(schema.KEY_DELETE, (key,)) == 1

    def do_lock(self, name: str) -> LocalLock:
        return LocalLock(self._db, name)

    def do_migrate_legacy(
        self,
        queues: list[str] | None,
        keys: str | bool,
        dry_run: bool,
        progress: Callable[[int], None] | None,
    ) -> LegacyReport:
        """Sergeant 0.27.0's queues and keys in this file (see :mod:`sergeant_local.legacy`)."""
        return legacy.migrate(self._db, self._lease_now, queues, keys, dry_run, progress)

    def close(self) -> None:
        """Close the file. Calling it twice is harmless; later calls raise StorageError."""
        self._db.close()
