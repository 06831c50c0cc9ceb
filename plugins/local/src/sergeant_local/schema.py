"""The tables of a sergeant-local file and every statement run against them.

``sergeant_ready`` holds the items waiting to be handed out, one row each, keyed
(and so stored) in hand-out order: ``(queue, priority, visible_at, seq)``. HIGH
(0) comes before NORMAL (1), then the time the item became ready (its push time,
its ``consumable_from``, or the time it was released or its lease ran out), then
``seq``, its push order among items ready at the same instant. It is a
``WITHOUT ROWID`` table: one b-tree, so taking a run of items from the front is
one range read and one range delete, with no second index to keep in step.

A reserve moves the items it hands out into ONE row of ``sergeant_leases`` (the
batch, packed), so acking the batch writes one row instead of one per item:
``items`` concatenated, ``sizes`` (uint32 each), ``deliveries`` (one integer when
all are equal, else int64 each), the first ``high`` of them HIGH. Each lease row
keeps, per item, whether it is still held and until when: ``expiries`` is NULL
while every item is held until ``expires_at``, else float64 expiries with 0.0 for
settled items (acked, released or reclaimed); ``held`` counts the items still
held and ``expires_at`` is the earliest of their expiries. Arrays are stored
little-endian. A receipt is ``"<lease id>.<token>.<index>"``; the random token
means a receipt of a deleted lease row never matches a new row that reuses its id.

``sergeant_leases`` has no index on expiry: keeping one in step would write one
more page per reserve, which one-task-per-transaction workers pay on every task.
Instead ``sergeant_lease_queues`` keeps, per queue that has lease rows, a lower
bound ``earliest`` on their expiries (written when a lease would end before it,
recomputed by a scan only once it has passed), so a pop or reserve learns with
one key lookup that nothing of its queue can have run out.

An item whose lease ran out stays in its lease row until the next pop or reserve
of its queue moves it back into ``sergeant_ready`` (``deliveries`` kept, ready
from the moment its lease ended): reclaiming happens inside ordinary calls.
Counts include such items as ready. Ready times (``visible_at``) and lease
expiries (``expires_at``, ``expiries``, ``earliest``) are on the lease clock
(:mod:`sergeant_local._clock`), which every process on the machine shares and a
step of the wall clock does not move; ``sergeant_clock`` holds its anchor for
the current boot.
"""

from __future__ import annotations

SCHEMA_VERSION = 4
HIGH, NORMAL = 0, 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS sergeant_ready (
    queue TEXT NOT NULL,
    priority INTEGER NOT NULL,
    visible_at REAL NOT NULL,
    seq INTEGER NOT NULL,
    deliveries INTEGER NOT NULL,
    item BLOB NOT NULL,
    PRIMARY KEY (queue, priority, visible_at, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sergeant_leases (
    id INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    token INTEGER NOT NULL,
    expires_at REAL NOT NULL,
    total INTEGER NOT NULL,
    held INTEGER NOT NULL,
    high INTEGER NOT NULL,
    deliveries NOT NULL,
    sizes BLOB NOT NULL,
    items BLOB NOT NULL,
    expiries BLOB
);
CREATE TABLE IF NOT EXISTS sergeant_lease_queues (
    queue TEXT PRIMARY KEY,
    earliest REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sergeant_clock (
    boot_id TEXT PRIMARY KEY,
    anchor REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sergeant_keys (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sergeant_locks (
    name TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
"""

#: Version 1 kept one row per item with its lease in place; reserved items come
#: back when their lease would have ended (their old receipts no longer match).
_FROM_1 = """
INSERT INTO sergeant_ready (queue, priority, visible_at, seq, deliveries, item)
    SELECT queue, priority, visible_at, id, deliveries, item FROM sergeant_items;
DROP TABLE sergeant_items;
"""
#: Version 2 (briefly) indexed lease rows by expiry instead of keeping bounds.
_FROM_2 = """
DROP INDEX IF EXISTS sergeant_leases_expiry;
INSERT OR REPLACE INTO sergeant_lease_queues (queue, earliest)
    SELECT queue, min(expires_at) FROM sergeant_leases GROUP BY queue;
"""
#: What to run, after SCHEMA, to bring a file of version ``v`` (``v >= 1``) up to date.
MIGRATIONS = {1: _FROM_1 + _FROM_2, 2: _FROM_2}

# The next ?3 ready items of queue ?1 at time ?2, read in key order: no sort. The
# first column counts the hand-out about to happen. Only two columns: building
# Python objects for each row costs more than SQLite's reading it.
_READY = "FROM sergeant_ready WHERE queue = ?1 AND priority IN (0, 1) AND visible_at <= ?2"
_ORDER = "ORDER BY priority, visible_at, seq"
PICK = f"SELECT deliveries + 1, item {_READY} {_ORDER} LIMIT ?3"
PEEK = f"SELECT item {_READY} {_ORDER} LIMIT ?3"
# The key of the last row PICK read (the ?3-th, counting from 0).
PICK_LAST = f"SELECT priority, visible_at, seq {_READY} {_ORDER} LIMIT 1 OFFSET ?3"
# After PICK, inside the same write transaction, delete exactly what it read:
# every ready HIGH row when the run ended among NORMAL ones (TAKE_HIGH), and the
# rows of the last row's priority up to and including it (TAKE_UPTO).
TAKE_HIGH = "DELETE FROM sergeant_ready WHERE queue = ? AND priority = 0 AND visible_at <= ?"
TAKE_UPTO = (
    "DELETE FROM sergeant_ready WHERE queue = ? AND priority = ? AND (visible_at, seq) <= (?, ?)"
)
# Takes the first ready item, unless a lease of the queue may have run out (the
# caller then reclaims first and takes with PICK): the usual pop or reserve of
# one item is this one statement. Also returns the queue's bound on lease expiries.
TAKE_ONE = (
    "DELETE FROM sergeant_ready WHERE (queue, priority, visible_at, seq) ="  # noqa: S608
    f" (SELECT queue, priority, visible_at, seq {_READY} {_ORDER} LIMIT 1)"
    " AND NOT EXISTS (SELECT 1 FROM sergeant_lease_queues WHERE queue = ?1 AND earliest <= ?2)"
    " RETURNING deliveries + 1, item, priority,"
    " (SELECT earliest FROM sergeant_lease_queues WHERE queue = ?1)"
)
# One item (?4 deliveries so far) after every item of its queue, priority and ready time.
PUSH_ONE = (
    "INSERT INTO sergeant_ready (queue, priority, visible_at, seq, deliveries, item)"
    " VALUES (?1, ?2, ?3, (SELECT coalesce(max(seq), 0) + 1 FROM sergeant_ready"
    " WHERE queue = ?1 AND priority = ?2 AND visible_at = ?3), ?4, ?5)"
)
# Many items at once: SEQ_LAST once, then PUSH with the following seqs (faster per
# item than PUSH_ONE's lookup each).
SEQ_LAST = (
    "SELECT coalesce(max(seq), 0) FROM sergeant_ready"
    " WHERE queue = ? AND priority = ? AND visible_at = ?"
)
PUSH = (
    "INSERT INTO sergeant_ready (queue, priority, visible_at, seq, deliveries, item)"
    " VALUES (?, ?, ?, ?, 0, ?)"
)
ITEMS_DELETE = "DELETE FROM sergeant_ready WHERE queue = ?"
LEASES_DELETE = "DELETE FROM sergeant_leases WHERE queue = ?"
EARLIEST = "SELECT earliest FROM sergeant_lease_queues WHERE queue = ?"
EARLIEST_SET = (
    "INSERT INTO sergeant_lease_queues (queue, earliest) VALUES (?, ?)"
    " ON CONFLICT (queue) DO UPDATE SET earliest = excluded.earliest"
)
EARLIEST_DELETE = "DELETE FROM sergeant_lease_queues WHERE queue = ?"
LEASE_EARLIEST = "SELECT min(expires_at) FROM sergeant_leases WHERE queue = ?"

LEASE_INSERT = (
    "INSERT INTO sergeant_leases"
    " (queue, token, expires_at, total, held, high, deliveries, sizes, items)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# A lease row's state (what acks and extends need), and with LEASE_FULL its items too.
_STATE = "id, expires_at, total, expiries"
_FULL = f"{_STATE}, high, deliveries, sizes, items"
LEASE_STATE = f"SELECT {_STATE} FROM sergeant_leases WHERE id = ? AND token = ? AND queue = ?"  # noqa: S608
LEASE_FULL = f"SELECT {_FULL} FROM sergeant_leases WHERE id = ? AND token = ? AND queue = ?"  # noqa: S608
LEASE_EXPIRED = f"SELECT {_FULL} FROM sergeant_leases WHERE queue = ? AND expires_at <= ?"  # noqa: S608
LEASE_UPDATE = "UPDATE sergeant_leases SET expires_at = ?, held = ?, expiries = ? WHERE id = ?"
LEASE_DELETE = "DELETE FROM sergeant_leases WHERE id = ?"
# Acking every item of a row no part of which was settled or renewed: one statement.
LEASE_ACK_ALL = (
    "DELETE FROM sergeant_leases WHERE id = ? AND token = ? AND queue = ? AND expires_at > ?"
    " AND total = ? AND expiries IS NULL"
)

# Counts: one statement (one snapshot). Row kind 0 carries the ready-table counts,
# kind 1 one lease row whose earliest expiry has passed: its items whose lease ran
# out count as ready, and are counted in Python (they may be only some of them).
# The lease table is scanned only for queues whose lower bound has passed (or, for
# the in-flight count, that have lease rows at all).
_EXPIRED = (
    " UNION ALL SELECT 1, held, expiries, NULL FROM sergeant_leases"
    " WHERE (SELECT earliest FROM sergeant_lease_queues WHERE queue = ?1) <= ?2"
    " AND queue = ?1 AND expires_at <= ?2"
)
STATS = (
    "SELECT 0, coalesce(sum(visible_at <= ?2), 0), coalesce(sum(visible_at > ?2), 0),"  # noqa: S608
    " CASE WHEN EXISTS (SELECT 1 FROM sergeant_lease_queues WHERE queue = ?1)"
    " THEN (SELECT coalesce(sum(held), 0) FROM sergeant_leases WHERE queue = ?1) ELSE 0 END"
    f" FROM sergeant_ready WHERE queue = ?1{_EXPIRED}"
)

CLOCK_GET = "SELECT boot_id, anchor FROM sergeant_clock"
# One row: the anchor of the current boot replaces an earlier boot's (CLOCK_CLEAR first).
CLOCK_CLEAR = "DELETE FROM sergeant_clock"
CLOCK_SET = "INSERT INTO sergeant_clock (boot_id, anchor) VALUES (?, ?)"

KEY_EXISTS = "SELECT 1 FROM sergeant_keys WHERE key = ?"
KEY_SET = (
    "INSERT INTO sergeant_keys (key, value) VALUES (?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
KEY_GET = "SELECT value FROM sergeant_keys WHERE key = ?"
KEY_DELETE = "DELETE FROM sergeant_keys WHERE key = ?"

# Inserts, or takes over a row whose holder's time ran out; returns a row only when taken.
LOCK_ACQUIRE = (
    "INSERT INTO sergeant_locks (name, token, expires_at) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (name) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at"
    " WHERE sergeant_locks.expires_at <= ?4"
    " RETURNING token"
)
LOCK_RELEASE = "DELETE FROM sergeant_locks WHERE name = ? AND token = ? AND expires_at > ?"
LOCK_SET_TTL = (
    "UPDATE sergeant_locks SET expires_at = ? WHERE name = ? AND token = ? AND expires_at > ?"
)
LOCK_GET_EXPIRY = "SELECT expires_at FROM sergeant_locks WHERE name = ? AND expires_at > ?"

# Every queue with ready or delayed rows (one index seek per queue: a loose index
# scan of the primary key), and those with items held under a lease.
QUEUE_NAMES = """
WITH RECURSIVE ready(name) AS (
    SELECT (SELECT min(queue) FROM sergeant_ready)
    UNION ALL
    SELECT (SELECT min(queue) FROM sergeant_ready WHERE queue > ready.name)
    FROM ready WHERE ready.name IS NOT NULL
)
SELECT name FROM ready WHERE name IS NOT NULL
UNION
SELECT queue FROM sergeant_leases WHERE held > 0
"""
