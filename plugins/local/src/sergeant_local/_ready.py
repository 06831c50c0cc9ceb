"""The ready table: adding items in order and taking a run from the front.

Each function runs inside the caller's write transaction (see
:meth:`sergeant_local._database.Database.write`) and changes nothing but the
database, so it may run again after a busy rollback.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from sergeant_local import schema

__all__ = ["Entry", "push_many", "put", "take", "take_first"]

#: An item to put back: ``(priority, visible_at, deliveries, item)``.
Entry = tuple[int, float, int, bytes]


def push_many(
    conn: sqlite3.Connection, queue: str, priority: int, visible_at: float, items: Sequence[bytes]
) -> None:
    """Append ``items`` in order, all ready at ``visible_at``."""
    last = conn.execute(schema.SEQ_LAST, (queue, priority, visible_at)).fetchone()[0]
    conn.executemany(
        schema.PUSH,
        [(queue, priority, visible_at, seq, 0, item) for seq, item in enumerate(items, last + 1)],
    )


def put(conn: sqlite3.Connection, queue: str, entries: Sequence[Entry]) -> None:
    """Put items back (released or reclaimed), in the order given among equal ready times."""
    next_seq: dict[tuple[int, float], int] = {}
    rows = []
    for priority, visible_at, deliveries, item in entries:
        key = (priority, visible_at)
        seq = next_seq.get(key)
        if seq is None:
            seq = conn.execute(schema.SEQ_LAST, (queue, priority, visible_at)).fetchone()[0] + 1
        next_seq[key] = seq + 1
        rows.append((queue, priority, visible_at, seq, deliveries, item))
    conn.executemany(schema.PUSH, rows)


def take(conn: sqlite3.Connection, queue: str, now: float, count: int) -> tuple[list[Any], int]:
    """Remove the next ``count`` ready items: their ``(deliveries, item)`` rows in
    hand-out order, ``deliveries`` counting this hand-out, and how many (the first
    ones) are HIGH."""
    if count == 1:
        found = conn.execute(schema.TAKE_ONE, (queue, now)).fetchall()
        return found, int(bool(found) and found[0][2] == schema.HIGH)
    rows = conn.execute(schema.PICK, (queue, now, count)).fetchall()
    if not rows:
        return rows, 0
    priority, visible_at, seq = conn.execute(
        schema.PICK_LAST, (queue, now, len(rows) - 1)
    ).fetchone()
    high = len(rows)
    if priority == schema.NORMAL:
        high = conn.execute(schema.TAKE_HIGH, (queue, now)).rowcount
    conn.execute(schema.TAKE_UPTO, (queue, priority, visible_at, seq))
    return rows, high


def take_first(
    conn: sqlite3.Connection, queue: str, now: float
) -> tuple[list[Any], int, float | None]:
    """:func:`take` of one item, unless a lease of ``queue`` may have run out by
    ``now``: ``(rows, high, the queue's bound on lease expiries)``; no rows when
    it took none."""
    found = conn.execute(schema.TAKE_ONE_FAST, (queue, now)).fetchall()
    if not found:
        return found, 0, None
    earliest = found[0][3]
    return found, int(found[0][2] == schema.HIGH), None if earliest is None else float(earliest)
