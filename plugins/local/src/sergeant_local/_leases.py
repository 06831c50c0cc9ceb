"""Lease rows: a reserved batch packed into one row, and what acks, releases,
extends and reclaims do to its items (see :mod:`sergeant_local.schema`).

The functions taking a connection run inside the caller's write transaction
(:meth:`sergeant_local._database.Database.write`) and change nothing but the
database, so they may run again after a busy rollback.
"""

from __future__ import annotations

import itertools
import operator
import random
import re
import sqlite3
import sys
from array import array
from collections.abc import Collection, Mapping, Sequence
from typing import Any, cast

from sergeant.connector import Batch, Receipts, deliveries_of

from sergeant_local import schema

__all__ = ["ByRow", "ack", "batch", "bound", "expired_count", "extend", "insert", "parse"]

#: Distinct indexes per lease row: ``{(lease id, token): {index, ...}}``; a
#: reserved batch's handle is its lease rows with ``range(items)`` each.
ByRow = Mapping[tuple[int, int], Collection[int]]
#: Where a reserved batch went: ``(lease id, token, first row, end row)`` per lease row.
Span = tuple[int, int, int, int]

#: Canonical numbers only (no leading zero): one receipt, one spelling.
_RECEIPT = re.compile(r"(0|[1-9][0-9]{0,18})\.(0|[1-9][0-9]{0,18})\.(0|[1-9][0-9]{0,9})")
_INT64 = 2**63
_SUFFIXES = [str(index) for index in range(4096)]
_DELIVERIES_OF = operator.itemgetter(0)
_ITEM_OF = operator.itemgetter(1)
_BIG_ENDIAN = sys.byteorder == "big"
#: Item sizes: 4 bytes each (SQLite refuses values over 2**31 - 1 bytes anyway).
_SIZE = "I" if array("I").itemsize == 4 else "L"
#: A batch whose items add up to more goes into several lease rows (SQLite
#: refuses values over 1 GB, and one huge value is one huge write).
MAX_LEASE_BYTES = 32 * 2**20


def _pack(values: array[Any]) -> bytes:
    """Arrays are stored little-endian, so a file reads the same on any machine."""
    if _BIG_ENDIAN:
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def _unpack(typecode: str, packed: bytes) -> array[Any]:
    values = array(typecode, packed)
    if _BIG_ENDIAN:
        values.byteswap()
    return values


def parse(receipts: Receipts) -> ByRow:
    """Group well-formed receipts by lease row (a whole batch's handle is that
    already); others can match nothing."""
    if receipts.handle is not None:
        return cast(ByRow, receipts.handle)
    parsed: dict[tuple[int, int], set[int]] = {}
    for match in map(_RECEIPT.fullmatch, receipts):
        if match is not None:
            lease_id, token, index = map(int, match.groups())
            if lease_id < _INT64 and token < _INT64:
                parsed.setdefault((lease_id, token), set()).add(index)
    return parsed


def insert(
    conn: sqlite3.Connection, queue: str, rows: Sequence[Any], high: int, until: float
) -> list[Span]:
    """Store taken rows ``(deliveries, item)``, the first ``high`` of them HIGH, as
    lease rows held until ``until``; ``deliveries`` already counts this hand-out."""
    if len(rows) == 1:  # one task per transaction: keep it short
        deliveries, item, token = rows[0][0], rows[0][1], random.getrandbits(63)
        size = len(item).to_bytes(4, "little")
        values = (queue, token, until, 1, 1, high, deliveries, size, item)
        return [(cast(int, conn.execute(schema.LEASE_INSERT, values).lastrowid), token, 0, 1)]
    items = list(map(_ITEM_OF, rows))
    sizes = array(_SIZE, map(len, items))
    spans = []
    for start, end in _chunks(sizes):
        whole = end - start == len(rows)
        counts = array("q", map(_DELIVERIES_OF, rows if whole else rows[start:end]))
        # Guards against lease ids reused after a delete, not against attackers; the
        # random module reseeds in forked children, so processes draw different tokens.
        token = random.getrandbits(63)
        values = (
            queue,
            token,
            until,
            end - start,
            end - start,
            min(max(high - start, 0), end - start),
            counts[0] if counts.count(counts[0]) == len(counts) else _pack(counts),
            _pack(sizes if whole else sizes[start:end]),
            b"".join(items if whole else items[start:end]),
        )
        spans.append(
            (cast(int, conn.execute(schema.LEASE_INSERT, values).lastrowid), token, start, end)
        )
    return spans


def _chunks(sizes: array[int]) -> list[tuple[int, int]]:
    if sum(sizes) <= MAX_LEASE_BYTES:
        return [(0, len(sizes))]
    chunks, start, size = [], 0, 0
    for index, item_size in enumerate(sizes):
        if size and size + item_size > MAX_LEASE_BYTES:
            chunks.append((start, index))
            start, size = index, 0
        size += item_size
    chunks.append((start, len(sizes)))
    return chunks


def batch(rows: Sequence[Any], spans: Sequence[Span]) -> Batch:
    """The :class:`~sergeant.connector.Delivery` of each taken row, with receipts
    naming its lease row; the handle groups them by lease row, as :func:`parse` would."""
    if len(rows) == 1:
        ((lease_id, token, _, _),) = spans
        delivery = (rows[0][1], f"{lease_id}.{token}.0", rows[0][0])
        return Batch(deliveries_of([delivery]), {(lease_id, token): range(1)})
    out = Batch(
        handle={(lease_id, token): range(end - start) for lease_id, token, start, end in spans}
    )
    for lease_id, token, start, end in spans:
        prefix = f"{lease_id}.{token}."
        suffixes = itertools.chain(_SUFFIXES[: end - start], map(str, range(4096, end - start)))
        part = rows if end - start == len(rows) else rows[start:end]
        receipts = map(prefix.__add__, suffixes)
        out.grow(
            deliveries_of(
                zip(map(_ITEM_OF, part), receipts, map(_DELIVERIES_OF, part), strict=True)
            )
        )
    return out


def _expiries(row: Sequence[Any]) -> array[float]:
    """Until when each item of lease row ``(id, expires_at, total, expiries, ...)``
    is held; 0.0 for items settled (acked, released or reclaimed)."""
    if row[3] is not None:
        return _unpack("d", row[3])
    spread: array[float] = array("d", [row[1]]) * row[2]  # each held until expires_at
    return spread


def _store(
    conn: sqlite3.Connection,
    lease_id: int,
    expiries: array[float],
    indexes: list[int],
    until: float,
) -> None:
    """Hold ``indexes`` until ``until`` (0.0: settled) and write the row back (it goes
    once nothing is held; ``expiries`` is NULL again once all are held alike)."""
    for index in indexes:
        expiries[index] = until
    held = [at for at in expiries if at > 0]
    if not held:
        conn.execute(schema.LEASE_DELETE, (lease_id,))
        return
    first = min(held)
    same = len(held) == len(expiries) and max(held) == first
    conn.execute(
        schema.LEASE_UPDATE, (first, len(held), None if same else _pack(expiries), lease_id)
    )


def _put_back(
    conn: sqlite3.Connection, queue: str, row: Sequence[Any], when: Sequence[tuple[int, float]]
) -> None:
    """Put items ``(index, ready from)`` of a full lease row back among the ready ones."""
    total, high, deliveries, sizes, items = row[2], row[4], row[5], row[6], row[7]
    counts = [deliveries] * total if isinstance(deliveries, int) else _unpack("q", deliveries)
    sizes = _unpack(_SIZE, sizes)
    ends = list(itertools.accumulate(sizes))
    conn.executemany(
        schema.PUSH_ONE,
        [
            (
                queue,
                schema.HIGH if index < high else schema.NORMAL,
                at,
                counts[index],
                items[ends[index] - sizes[index] : ends[index]],
            )
            for index, at in when
        ],
    )


def _settle(
    conn: sqlite3.Connection,
    queue: str,
    receipts: ByRow,
    now: float,
    until: float = 0.0,
    put_back_at: float | None = None,
) -> int:
    """Hold live receipts' items until ``until`` (0.0: settle them), first putting
    them back, ready at ``put_back_at``, if given; how many."""
    done = 0
    sql = schema.LEASE_STATE if put_back_at is None else schema.LEASE_FULL
    for (lease_id, token), indexes in receipts.items():
        row = conn.execute(sql, (lease_id, token, queue)).fetchone()
        expiries = array("d") if row is None else _expiries(row)
        live = sorted(i for i in indexes if i < len(expiries) and expiries[i] > now)
        if live:
            if put_back_at is not None:
                _put_back(conn, queue, row, [(index, put_back_at) for index in live])
            _store(conn, lease_id, expiries, live, until)
            done += len(live)
    return done


def ack(conn: sqlite3.Connection, queue: str, receipts: ByRow, now: float) -> int:
    """Settle live receipts for good; how many."""
    done, rest = 0, {}
    for (lease_id, token), indexes in receipts.items():
        count = len(indexes)
        whole = isinstance(indexes, range) or max(indexes) == count - 1  # 0..count-1
        key = (lease_id, token, queue, now, count)
        if whole and conn.execute(schema.LEASE_ACK_ALL, key).rowcount:
            done += count
        else:
            rest[lease_id, token] = indexes
    return done + _settle(conn, queue, rest, now)


def release(
    conn: sqlite3.Connection, queue: str, receipts: ByRow, now: float, visible_at: float
) -> int:
    """Put live receipts' items back, ready at ``visible_at``; how many."""
    return _settle(conn, queue, receipts, now, put_back_at=visible_at)


def extend(conn: sqlite3.Connection, queue: str, receipts: ByRow, now: float, lease: float) -> int:
    """Hold live receipts' items for ``lease`` seconds from ``now``; how many."""
    until = now + lease
    done = _settle(conn, queue, receipts, now, until)
    if done:
        found = conn.execute(schema.EARLIEST, (queue,)).fetchone()
        bound(conn, queue, until, None if found is None else found[0])
    return done


def bound(conn: sqlite3.Connection, queue: str, until: float, earliest: float | None) -> None:
    """Keep ``queue``'s lower bound at or below a lease that now ends at ``until``."""
    if earliest is None or until < earliest:
        conn.execute(schema.EARLIEST_SET, (queue, until))


def reclaim(conn: sqlite3.Connection, queue: str, now: float) -> float | None:
    """Put the items of ``queue`` whose lease ran out by ``now`` back among the
    ready ones, ready from their lease's end; the queue's lower bound on lease
    expiries afterwards (None: no lease rows)."""
    found = conn.execute(schema.EARLIEST, (queue,)).fetchone()
    if found is None or found[0] > now:
        return None if found is None else float(found[0])
    for row in conn.execute(schema.LEASE_EXPIRED, (queue, now)).fetchall():
        expiries = _expiries(row)
        expired = [(index, at) for index, at in enumerate(expiries) if 0 < at <= now]
        _put_back(conn, queue, row, expired)
        _store(conn, row[0], expiries, [index for index, _ in expired], 0.0)
    earliest = conn.execute(schema.LEASE_EARLIEST, (queue,)).fetchone()[0]
    if earliest is None:
        conn.execute(schema.EARLIEST_DELETE, (queue,))
        return None
    conn.execute(schema.EARLIEST_SET, (queue, earliest))
    return float(earliest)


def expired_count(held: int, expiries: bytes | None, now: float) -> int:
    """How many held items of a lease row (whose earliest expiry passed) ran out."""
    if expiries is None:
        return held
    return sum(1 for at in _unpack("d", expiries) if 0 < at <= now)
