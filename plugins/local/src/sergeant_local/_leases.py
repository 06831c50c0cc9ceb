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
from collections.abc import Collection, Sequence
from typing import Any, cast

from sergeant.connector import Batch, Receipts, deliveries_of

from sergeant_local import _ready, schema

__all__ = [
    "ByRow",
    "ack",
    "batch",
    "bound",
    "expired_count",
    "extend",
    "insert",
    "parse",
    "reclaim",
    "release",
]

#: Distinct indexes per lease row: ``{(lease id, token): {index, ...}}``; a
#: reserved batch's handle is its lease rows with ``range(items)`` each.
ByRow = dict[tuple[int, int], Collection[int]]
#: Where a reserved batch went: ``(lease id, token, first row, end row)`` per lease row.
Span = tuple[int, int, int, int]

#: Canonical numbers only (no leading zero): one receipt, one spelling.
_HEAD = re.compile(r"(0|[1-9][0-9]{0,18})\.(0|[1-9][0-9]{0,18})")
_INT64 = 2**63
_SUFFIXES = [str(index) for index in range(4096)]
_INDEXES = {text: index for index, text in enumerate(_SUFFIXES)}
_HEAD_OF = operator.itemgetter(0)
_INDEX_OF = operator.itemgetter(2)
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


def _indexes(texts: Sequence[str]) -> set[int]:
    found: set[int | None] = set(map(_INDEXES.get, texts))
    if None in found:  # past the cache, or not a number at all
        found.discard(None)
        found.update(
            int(text)
            for text in texts
            if text not in _INDEXES
            and text.isascii()
            and text.isdigit()
            and len(text) <= 10
            and text[0] != "0"  # "0" itself is cached: "00", "01"... are no aliases
        )
    return found  # type: ignore[return-value]  # None was discarded


def _lease_key(head: str) -> tuple[int, int] | None:
    match = _HEAD.fullmatch(head)
    if match is None:
        return None
    lease_id, token = int(match[1]), int(match[2])
    return (lease_id, token) if lease_id < _INT64 and token < _INT64 else None


def parse(receipts: Receipts) -> ByRow:
    """Group well-formed receipts by lease row; others can match nothing.

    A whole batch's receipts carry it grouped already (its handle). Others run
    per receipt only C-level loops in the usual case, receipts of one batch.
    """
    if receipts.handle is not None:
        return cast(ByRow, receipts.handle)
    parts = list(map(str.rpartition, receipts, itertools.repeat(".")))
    heads = set(map(_HEAD_OF, parts))
    if len(heads) == 1:
        key = _lease_key(heads.pop())
        indexes = _indexes(list(map(_INDEX_OF, parts))) if key is not None else None
        return {key: indexes} if key is not None and indexes else {}
    by_head: dict[str, list[str]] = {}
    for head, _, index in parts:
        found = by_head.get(head)
        if found is None:
            by_head[head] = [index]
        else:
            found.append(index)
    parsed: ByRow = {}
    for head, texts in by_head.items():
        key = _lease_key(head)
        if key is not None and (indexes := _indexes(texts)):
            parsed[key] = indexes
    return parsed


def _suffixes(count: int) -> list[str]:
    if count <= len(_SUFFIXES):
        return _SUFFIXES[:count]
    return _SUFFIXES + [str(index) for index in range(len(_SUFFIXES), count)]


def insert(
    conn: sqlite3.Connection, queue: str, rows: Sequence[Any], high: int, until: float
) -> list[Span]:
    """Store taken rows ``(deliveries, item)``, the first ``high`` of them HIGH, as
    lease rows held until ``until``; ``deliveries`` already counts this hand-out."""
    if len(rows) == 1:  # one task per transaction: keep it short
        count, item = rows[0][0], rows[0][1]
        token = _token()
        size = len(item).to_bytes(4, "little")
        values = (queue, token, until, 1, 1, high, count, size, item)
        lease_id = conn.execute(schema.LEASE_INSERT, values).lastrowid
        assert lease_id is not None  # an INSERT into a rowid table always sets it
        return [(lease_id, token, 0, 1)]
    items = list(map(_ITEM_OF, rows))
    counts = array("q", map(_DELIVERIES_OF, rows))
    sizes = array(_SIZE, map(len, items))
    spans = []
    for start, end in _chunks(sizes):
        token = _token()
        total = end - start
        whole = total == len(rows)
        lease_id = conn.execute(
            schema.LEASE_INSERT,
            (
                queue,
                token,
                until,
                total,
                total,
                min(max(high - start, 0), total),
                _pack_counts(counts if whole else counts[start:end]),
                _pack(sizes if whole else sizes[start:end]),
                b"".join(items if whole else items[start:end]),
            ),
        ).lastrowid
        assert lease_id is not None  # an INSERT into a rowid table always sets it
        spans.append((lease_id, token, start, end))
    return spans


def _token() -> int:
    # Guards against lease ids reused after a delete, not against attackers; the
    # random module reseeds in forked children, so processes draw different tokens.
    return random.getrandbits(63)


def _pack_counts(counts: array[int]) -> int | bytes:
    """Delivery counts: one number when they are all the same (the usual case)."""
    first = counts[0]
    if counts.count(first) == len(counts):
        return first
    return _pack(counts)


def _unpack_counts(packed: int | bytes, total: int) -> Sequence[int]:
    return [packed] * total if isinstance(packed, int) else _unpack("q", packed)


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
    if not rows:
        return Batch()
    out = Batch(
        handle={(lease_id, token): range(end - start) for lease_id, token, start, end in spans}
    )
    for lease_id, token, start, end in spans:
        prefix = f"{lease_id}.{token}."
        receipts = [prefix + suffix for suffix in _suffixes(end - start)]
        part = rows if end - start == len(rows) else rows[start:end]
        out += deliveries_of(
            zip(map(_ITEM_OF, part), receipts, map(_DELIVERIES_OF, part), strict=True)
        )
    return out


class _Held:
    """Which items of one lease row are still held, and until when."""

    __slots__ = ("expires_at", "expiries", "held", "total")

    def __init__(self, expires_at: float, total: int, held: int, expiries: bytes | None) -> None:
        self.expires_at = expires_at
        self.total = total
        self.held = held
        self.expiries = None if expiries is None else _unpack("d", expiries)

    def live(self, indexes: Collection[int], now: float) -> Collection[int]:
        """Those of ``indexes`` still held under a lease that has not run out."""
        total = self.total
        if self.expiries is None:
            if self.expires_at <= now:
                return ()
            return indexes if max(indexes) < total else [i for i in indexes if i < total]
        expiries = self.expiries
        return [index for index in indexes if index < total and expiries[index] > now]

    def expired(self, now: float) -> list[tuple[int, float]]:
        """``(index, expiry)`` of the held items whose lease has run out, in order."""
        if self.expiries is None:
            return [(index, self.expires_at) for index in range(self.total)]
        return [(index, at) for index, at in enumerate(self.expiries) if 0 < at <= now]

    def _spread(self) -> array[float]:
        if self.expiries is None:
            self.expiries = array("d", [self.expires_at]) * self.total
        return self.expiries

    def settle(self, indexes: Collection[int]) -> None:
        """Mark held ``indexes`` acked, released or reclaimed."""
        self.held -= len(indexes)
        if self.held:
            expiries = self._spread()
            for index in indexes:
                expiries[index] = 0.0
            self.expires_at = min(at for at in expiries if at > 0)

    def renew(self, indexes: Collection[int], until: float) -> None:
        """Hold ``indexes`` until ``until``."""
        if self.expiries is None and len(indexes) == self.total:
            self.expires_at = until
            return
        expiries = self._spread()
        for index in indexes:
            expiries[index] = until
        self.expires_at = min(at for at in expiries if at > 0)

    def store(self, conn: sqlite3.Connection, lease_id: int) -> None:
        """Write the new state back (the row goes once nothing is held)."""
        if not self.held:
            conn.execute(schema.LEASE_DELETE, (lease_id,))
        elif self.expiries is None:
            conn.execute(schema.LEASE_EXTEND_ALL, (self.expires_at, lease_id))
        else:
            conn.execute(
                schema.LEASE_UPDATE,
                (self.expires_at, self.held, _pack(self.expiries), lease_id),
            )


def _put_back(
    conn: sqlite3.Connection, queue: str, row: Sequence[Any], when: Sequence[tuple[int, float]]
) -> None:
    """Put items ``(index, ready from)`` of a full lease row back among the ready ones."""
    high, total, packed = row[5], row[2], row[8]
    counts, sizes = _unpack_counts(row[6], total), _unpack(_SIZE, row[7])
    ends = list(itertools.accumulate(sizes))
    _ready.put(
        conn,
        queue,
        [
            (
                schema.HIGH if index < high else schema.NORMAL,
                at,
                counts[index],
                packed[ends[index] - sizes[index] : ends[index]],
            )
            for index, at in when
        ],
    )


def ack(conn: sqlite3.Connection, queue: str, receipts: ByRow, now: float) -> int:
    """Settle live receipts for good; how many."""
    done = 0
    for (lease_id, token), indexes in receipts.items():
        count = len(indexes)
        if isinstance(indexes, range) or max(indexes) == count - 1:  # 0..count-1: the whole row?
            key = (lease_id, token, queue, now, count)
            if conn.execute(schema.LEASE_ACK_ALL, key).rowcount:
                done += count
                continue
        held, live = _live_items(conn, queue, lease_id, token, indexes, now)
        if held is not None and live:
            held.settle(live)
            held.store(conn, lease_id)
            done += len(live)
    return done


def _live_items(
    conn: sqlite3.Connection,
    queue: str,
    lease_id: int,
    token: int,
    indexes: Collection[int],
    now: float,
) -> tuple[_Held | None, Collection[int]]:
    """A lease row's state and which of ``indexes`` it still holds (None, () if it is gone)."""
    found = conn.execute(schema.LEASE_STATE, (lease_id, token, queue)).fetchone()
    if found is None:
        return None, ()
    held = _Held(*found)
    return held, held.live(indexes, now)


def release(
    conn: sqlite3.Connection, queue: str, receipts: ByRow, visible_at: float, now: float
) -> int:
    """Put live receipts' items back, ready at ``visible_at``; how many."""
    done = 0
    for (lease_id, token), indexes in receipts.items():
        row = conn.execute(schema.LEASE_FULL, (lease_id, token, queue)).fetchone()
        if row is None:
            continue
        held = _Held(*row[1:5])
        live = sorted(held.live(indexes, now))
        if live:
            _put_back(conn, queue, row, [(index, visible_at) for index in live])
            held.settle(live)
            held.store(conn, lease_id)
            done += len(live)
    return done


def extend(conn: sqlite3.Connection, queue: str, receipts: ByRow, until: float, now: float) -> int:
    """Hold live receipts' items until ``until``; how many."""
    done = 0
    for (lease_id, token), indexes in receipts.items():
        held, live = _live_items(conn, queue, lease_id, token, indexes, now)
        if held is not None and live:
            held.renew(live, until)
            held.store(conn, lease_id)
            done += len(live)
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
        held = _Held(*row[1:5])
        expired = held.expired(now)
        if expired:
            _put_back(conn, queue, row, expired)
            held.settle([index for index, _ in expired])
            held.store(conn, row[0])
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
