"""The tables of a sergeant-local file and every statement run against them.

One row per item in ``sergeant_items``. ``visible_at`` is when the row may next
be handed out: its push time, its ``consumable_from``, or, while reserved, the
end of its lease. So a lease that runs out simply makes the row ready again and
the next pop or reserve takes it: reclaiming needs no extra statement. ``lease``
is a random token per delivery (NULL when not reserved); a receipt is
``"<id>.<lease>"``, so a receipt from an earlier delivery never matches.

Ready rows are found through ``sergeant_items_ready (queue, priority,
visible_at)``, whose order (then rowid) is exactly the hand-out order: HIGH
before NORMAL, then by the time each row became ready, then by push order.
Times are the wall clock (``time.time()``) of the calling process: all processes
on one file share a machine, hence a clock; if it steps backwards, items pushed
just before wait for it to catch up.
"""

from __future__ import annotations

__all__ = [
    "ACK",
    "EXTEND",
    "HIGH",
    "ITEMS_DELETE",
    "KEY_DELETE",
    "KEY_GET",
    "KEY_SET",
    "LENGTH_ALL",
    "LENGTH_READY",
    "LOCK_ACQUIRE",
    "LOCK_GET_EXPIRY",
    "LOCK_IS_LOCKED",
    "LOCK_RELEASE",
    "LOCK_SET_TTL",
    "MAX_COUNT",
    "NORMAL",
    "POP",
    "POP_ONE",
    "PUSH",
    "RELEASE",
    "RESERVE",
    "SCHEMA",
    "SCHEMA_VERSION",
    "STATS",
]

SCHEMA_VERSION = 1
HIGH, NORMAL = 0, 1
#: Larger counts are clamped: no call can hand out more rows than SQLite can address.
MAX_COUNT = 2**31 - 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS sergeant_items (
    id INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    priority INTEGER NOT NULL,
    visible_at REAL NOT NULL,
    lease INTEGER,
    deliveries INTEGER NOT NULL DEFAULT 0,
    ready_since REAL,
    item BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS sergeant_items_ready ON sergeant_items (queue, priority, visible_at);
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

# The next ?3 ready rows of queue ?1 at time ?2: HIGH first, each priority read in
# index order, so no sort and no scan past rows that are not ready.
_PICK = (
    "SELECT id FROM (SELECT id FROM sergeant_items"
    " WHERE queue = ?1 AND priority = 0 AND visible_at <= ?2 ORDER BY visible_at, id LIMIT ?3)"
    " UNION ALL SELECT id FROM (SELECT id FROM sergeant_items"
    " WHERE queue = ?1 AND priority = 1 AND visible_at <= ?2 ORDER BY visible_at, id LIMIT ?3)"
    " LIMIT ?3"
)

PUSH = "INSERT INTO sergeant_items (queue, priority, visible_at, item) VALUES (?, ?, ?, ?)"
# Statements are built from the constant fragment _PICK only; values are always bound.
POP_ONE = f"DELETE FROM sergeant_items WHERE id IN ({_PICK}) RETURNING item"  # noqa: S608
# RETURNING order is unspecified: return the sort key and sort in Python.
POP = (
    f"DELETE FROM sergeant_items WHERE id IN ({_PICK})"  # noqa: S608
    " RETURNING priority, visible_at, id, item"
)
# SET sees the old row, so ready_since keeps the order key the lease overwrites.
RESERVE = (
    "UPDATE sergeant_items SET ready_since = visible_at, visible_at = ?4,"  # noqa: S608
    " lease = random() & 9223372036854775807, deliveries = deliveries + 1"
    f" WHERE id IN ({_PICK})"
    " RETURNING priority, ready_since, id, lease, deliveries, item"
)
# A receipt acts only while its lease lasts: visible_at > now.
ACK = "DELETE FROM sergeant_items WHERE id = ? AND lease = ? AND queue = ? AND visible_at > ?"
RELEASE = (
    "UPDATE sergeant_items SET lease = NULL, visible_at = ?"
    " WHERE id = ? AND lease = ? AND queue = ? AND visible_at > ?"
)
EXTEND = (
    "UPDATE sergeant_items SET visible_at = ?"
    " WHERE id = ? AND lease = ? AND queue = ? AND visible_at > ?"
)
LENGTH_READY = (
    "SELECT count(*) FROM sergeant_items WHERE queue = ? AND priority IN (0, 1) AND visible_at <= ?"
)
LENGTH_ALL = (
    "SELECT count(*) FROM sergeant_items WHERE queue = ? AND (visible_at <= ? OR lease IS NULL)"
)
STATS = (
    "SELECT coalesce(sum(visible_at <= ?2), 0),"
    " coalesce(sum(visible_at > ?2 AND lease IS NULL), 0),"
    " coalesce(sum(visible_at > ?2 AND lease IS NOT NULL), 0)"
    " FROM sergeant_items WHERE queue = ?1"
)
ITEMS_DELETE = "DELETE FROM sergeant_items WHERE queue = ?"

KEY_SET = "INSERT INTO sergeant_keys (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"
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
LOCK_IS_LOCKED = "SELECT 1 FROM sergeant_locks WHERE name = ? AND expires_at > ?"
LOCK_GET_EXPIRY = "SELECT expires_at FROM sergeant_locks WHERE name = ? AND expires_at > ?"
