"""Sergeant 0.27.0's tables in the same SQLite file, moved into ours (``sergeant migrate``).

Sergeant 0.27.0 kept, in the file its ``local`` connector used:

``task_queue (queue_name, priority, value)``
    ``priority`` 0.0 for HIGH, 1.0 for NORMAL, else the item's
    ``consumable_from`` (delayed items had no priority); handed out in
    ``(priority, rowid)`` order.
``keys (name, value)`` and ``locks (name, expireAt)``.

Each batch moves in one ``BEGIN IMMEDIATE`` transaction: the rows are deleted
from ``task_queue`` and inserted into ``sergeant_ready`` together, so a crash
leaves every item in exactly one of the two. HIGH and NORMAL items become
ready now, in their old order; delayed ones keep their due time as NORMAL
items. A key moves when ours has no value under its name, or is dropped from
the old table when ours holds the same bytes; a different value stays put and
is reported. Locks are counted, not moved: each frees itself.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Callable, Sequence

from sergeant.legacy import (
    LegacyQueue,
    LegacyReport,
    held_locks_notes,
    merge_queues,
    move_in_batches,
    refused_names_note,
    usable_queue_names,
)

from sergeant_local import schema
from sergeant_local._database import Database

__all__ = ["BATCH", "migrate"]

#: Items (or keys) per transaction.
BATCH = 1000

#: Rows Sergeant 0.27.0 could have written have a number for priority and a
#: value (the WHERE clauses below). Others (written by something else) stay in
#: the old table and are reported; a TEXT value moves as its bytes.
_TAKE = (
    "DELETE FROM task_queue WHERE rowid IN (SELECT rowid FROM task_queue WHERE queue_name = ?"
    " AND typeof(priority) IN ('real', 'integer') AND typeof(value) IN ('blob', 'text')"
    " ORDER BY priority, rowid LIMIT ?) RETURNING rowid, priority, CAST(value AS BLOB)"
)
_COUNT = (
    "SELECT coalesce(sum(priority = 0.0), 0), coalesce(sum(priority = 1.0), 0),"
    " coalesce(sum(priority NOT IN (0.0, 1.0)), 0) FROM task_queue WHERE queue_name = ?"
    " AND typeof(priority) IN ('real', 'integer') AND typeof(value) IN ('blob', 'text')"
)
_MALFORMED = (
    "SELECT count(*) FROM task_queue WHERE queue_name = ?"
    " AND NOT (typeof(priority) IN ('real', 'integer') AND typeof(value) IN ('blob', 'text'))"
)
_SAMPLE = (
    "SELECT CAST(value AS BLOB) FROM task_queue WHERE queue_name = ?"
    " AND typeof(value) IN ('blob', 'text') LIMIT 1"
)
_QUEUES = "SELECT DISTINCT queue_name FROM task_queue"
#: Keys as Sergeant 0.27.0 wrote them: a text name and a value (TEXT moves as its bytes).
_KEYS = (
    "SELECT rowid, name, CAST(value AS BLOB) FROM keys WHERE rowid > ? AND name GLOB ?"
    " AND typeof(name) = 'text' AND typeof(value) IN ('blob', 'text') ORDER BY rowid LIMIT ?"
)
_KEYS_MALFORMED = (
    "SELECT count(*) FROM keys"
    " WHERE NOT (typeof(name) = 'text' AND typeof(value) IN ('blob', 'text'))"
)
_KEY_DROP = "DELETE FROM keys WHERE rowid = ?"
_LOCKS = "SELECT count(*) FROM locks WHERE expireAt > ?"
_TABLES = (
    "SELECT name FROM sqlite_master"
    " WHERE type = 'table' AND name IN ('task_queue', 'keys', 'locks')"
)


def migrate(
    db: Database,
    lease_now: Callable[[], float],
    queues: Sequence[str] | None,
    keys: str | bool,
    dry_run: bool,
    progress: Callable[[int], None] | None,
) -> LegacyReport:
    """Move (or count, with ``dry_run``) Sergeant 0.27.0's queues and keys in ``db``."""
    tables = {row[0] for row in db.rows(_TABLES, ())}
    moved: list[LegacyQueue] = []
    samples: list[bytes] = []
    refused: list[str] = []
    malformed = 0
    if "task_queue" in tables:
        if queues is not None:
            names = list(queues)
        else:
            names, refused = usable_queue_names(r[0] for r in db.rows(_QUEUES, ()))
        done = 0
        for name in names:
            malformed += int(db.rows(_MALFORMED, (name,))[0][0])
            sample = db.rows(_SAMPLE, (name,))
            samples.extend(row[0] for row in sample)
            high, normal, delayed = map(int, db.rows(_COUNT, (name,))[0])
            if dry_run:
                found = LegacyQueue(name, high + normal, high, delayed)
            else:
                found = _move_queue(db, lease_now, name, high + normal + delayed, done, progress)
            if found.total:
                moved.append(found)
                done += found.total
    key_count = 0
    conflicts: tuple[str, ...] = ()
    malformed_keys = 0
    if "keys" in tables and keys is not False:
        key_count, conflicts = _move_keys(db, "*" if keys is True else keys, dry_run)
        malformed_keys = int(db.rows(_KEYS_MALFORMED, ())[0][0])
    locks = int(db.rows(_LOCKS, (time.time(),))[0][0]) if "locks" in tables else 0
    return LegacyReport(
        merge_queues(moved),
        key_count,
        conflicts,
        locks,
        tuple(samples),
        held_locks_notes(locks)
        + refused_names_note(refused)
        + _malformed_note(malformed)
        + _malformed_note(malformed_keys, "keys", "name is not text or their value not bytes"),
    )


def _move_queue(
    db: Database,
    lease_now: Callable[[], float],
    name: str,
    bound: int,
    done: int,
    progress: Callable[[int], None] | None,
) -> LegacyQueue:
    """Move batches until the old queue is empty or ``bound`` items (what it held
    at the start) have moved (:func:`sergeant.legacy.move_in_batches`). Ready
    times are on the lease clock (a delayed item keeps its wall-clock delay)."""

    def move_batch() -> LegacyQueue:
        now = lease_now()
        return db.write(functools.partial(_move_batch, name, now, now - time.time()))

    return move_in_batches(name, move_batch, BATCH, bound, done, progress)


def _move_batch(name: str, now: float, shift: float, conn: sqlite3.Connection) -> LegacyQueue:
    """Move up to :data:`BATCH` items: HIGH and NORMAL ready ``now``, delayed ones at
    their due time moved by ``shift`` onto the lease clock."""
    rows = sorted(conn.execute(_TAKE, (name, BATCH)).fetchall(), key=lambda r: r[:2])
    entries = []
    for _, at, item in rows:  # ``at``: 0.0 HIGH, 1.0 NORMAL, else a due time
        due = now if at in (0.0, 1.0) else at + shift
        entries.append((name, schema.HIGH if at == 0.0 else schema.NORMAL, due, 0, item))
    conn.executemany(schema.PUSH_ONE, entries)
    high = sum(at == 0.0 for _, at, _ in rows)
    delayed = sum(at not in (0.0, 1.0) for _, at, _ in rows)
    return LegacyQueue(name, len(rows) - delayed, high, delayed)


def _move_keys(db: Database, pattern: str, dry_run: bool) -> tuple[int, tuple[str, ...]]:
    """Move the old keys matching ``pattern``: ``(moved, names left for a conflict)``."""
    moved, conflicts, after = 0, [], -1

    def batch(conn: sqlite3.Connection) -> tuple[int, list[str], int]:
        rows = conn.execute(_KEYS, (after, pattern, BATCH)).fetchall()
        count, clashes = 0, []
        for rowid, name, value in rows:
            ours = conn.execute(schema.KEY_GET, (name,)).fetchone()
            if ours is not None and bytes(ours[0]) != bytes(value):
                clashes.append(str(name))
                continue
            count += ours is None
            if not dry_run:
                if ours is None:
                    conn.execute(schema.KEY_SET, (name, value))
                conn.execute(_KEY_DROP, (rowid,))
        return count, clashes, rows[-1][0] if len(rows) == BATCH else -2

    while after != -2:
        count, clashes, after = db.write(batch)
        moved += count
        conflicts += clashes
    return moved, tuple(conflicts)


def _malformed_note(
    count: int,
    table: str = "task_queue",
    why: str = "priority is not a number or their value is missing",
) -> tuple[str, ...]:
    """The report's note for rows left in ``table``: not written by Sergeant."""
    if not count:
        return ()
    return (
        f"rows left in {table}: {count:,} (their {why}, so Sergeant 0.27.0 did not write them);"
        " look at them with sqlite3",
    )
