"""Batch leases: one lease row per reserved batch, with per-receipt semantics kept.

The conformance kit mostly reserves one item at a time; these tests settle,
renew and lose parts of one batch, split batches over several lease rows, and
open a file written by schema version 1.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sergeant.connector import Delivery
from sergeant.errors import StorageError
from sergeant.testing import wait_until
from sergeant_local import LocalConnector, _leases
from sergeant_local.schema import SCHEMA_VERSION

SHORT = 0.3


@pytest.fixture
def connector(tmp_path: Path) -> Iterator[LocalConnector]:
    with LocalConnector(file_path=str(tmp_path / "leases.sqlite3")) as connector:
        yield connector


def _items(count: int, prefix: str = "item") -> list[bytes]:
    return [f"{prefix}-{i:05d}".encode() for i in range(count)]


def _receipts(deliveries: list[Delivery]) -> list[str]:
    return [d.receipt for d in deliveries]


def _counts(connector: LocalConnector, queue: str) -> tuple[int, int, int]:
    (row,) = connector.queue_stats(queue)
    return row.ready, row.delayed, row.in_flight


def _reserve_when_back(connector: LocalConnector, queue: str, count: int) -> list[Delivery]:
    return wait_until(
        lambda: connector.queue_reserve(queue, count, 30),
        timeout=10,
        message="the items whose lease ran out to be handed out again",
    )


def test_part_of_a_batch_acked_the_rest_comes_back(connector: LocalConnector) -> None:
    items = _items(6)
    connector.queue_push_bulk("q", items)
    batch = connector.queue_reserve("q", 6, SHORT)
    assert connector.queue_ack("q", _receipts(batch[0::2])) == 3
    assert _counts(connector, "q") == (0, 0, 3)
    again = _reserve_when_back(connector, "q", 10)
    assert [(d.item, d.deliveries) for d in again] == [(item, 2) for item in items[1::2]]
    assert connector.queue_ack("q", _receipts(batch)) == 0  # acked or expired: none count
    assert connector.queue_ack("q", _receipts(again)) == 3
    assert connector.queue_length("q", include_delayed=True) == 0
    assert _counts(connector, "q") == (0, 0, 0)


def test_extending_part_of_a_batch_keeps_only_those(connector: LocalConnector) -> None:
    items = _items(4)
    connector.queue_push_bulk("q", items)
    batch = connector.queue_reserve("q", 4, SHORT)
    assert connector.queue_extend("q", _receipts(batch[:2]), 60) == 2
    wait_until(
        lambda: connector.queue_length("q") == 2,
        timeout=10,
        message="the two leases that were not extended to run out",
    )
    assert _counts(connector, "q") == (2, 0, 2)
    assert connector.queue_extend("q", _receipts(batch), 60) == 2  # the expired two are lost
    again = connector.queue_reserve("q", 10, 30)
    assert [(d.item, d.deliveries) for d in again] == [(item, 2) for item in items[2:]]
    assert connector.queue_ack("q", _receipts(batch)) == 2
    assert connector.queue_ack("q", _receipts(again)) == 2
    assert _counts(connector, "q") == (0, 0, 0)


def test_whole_batch_extend_then_ack(connector: LocalConnector) -> None:
    connector.queue_push_bulk("q", _items(3))
    batch = connector.queue_reserve("q", 3, SHORT)
    assert connector.queue_extend("q", _receipts(batch), 60) == 3
    time.sleep(SHORT * 1.5)  # past the first lease: the extension must hold
    assert connector.queue_reserve("q", 10, 30) == []
    assert connector.queue_ack("q", _receipts(batch)) == 3
    assert connector.queue_ack("q", _receipts(batch)) == 0
    assert connector.queue_release("q", _receipts(batch)) == 0


def test_releasing_part_of_a_batch(connector: LocalConnector) -> None:
    items = _items(5)
    connector.queue_push_bulk("q", items)
    batch = connector.queue_reserve("q", 5, 30)
    assert connector.queue_release("q", _receipts([batch[3], batch[1]])) == 2
    assert _counts(connector, "q") == (2, 0, 3)
    again = connector.queue_reserve("q", 10, 30)
    assert [(d.item, d.deliveries) for d in again] == [(items[1], 2), (items[3], 2)]
    assert connector.queue_release("q", _receipts(batch[1:4])) == 1  # only batch[2] still held
    assert connector.queue_extend("q", _receipts(batch), 30) == 2
    assert connector.queue_ack("q", _receipts(batch)) == 2
    assert connector.queue_ack("q", _receipts(again)) == 2
    assert [d.item for d in connector.queue_reserve("q", 10, 30)] == [items[2]]


def test_released_high_items_stay_high(connector: LocalConnector) -> None:
    connector.queue_push_bulk("q", [b"n1", b"n2"])
    connector.queue_push_bulk("q", [b"h1", b"h2"], priority="HIGH")
    batch = connector.queue_reserve("q", 3, 30)
    assert [d.item for d in batch] == [b"h1", b"h2", b"n1"]
    assert connector.queue_release("q", _receipts(batch)) == 3
    # Released now: behind n2, which was waiting before; h1 and h2 still first.
    assert [d.item for d in connector.queue_reserve("q", 10, 30)] == [b"h1", b"h2", b"n2", b"n1"]


def test_odd_receipts_match_nothing(connector: LocalConnector, tmp_path: Path) -> None:
    connector.queue_push_bulk("q", _items(3))
    batch = connector.queue_reserve("q", 3, 30)
    lease_id, token, _ = batch[0].receipt.split(".")
    forged = [
        f"{lease_id}.{token}.3",  # past the batch
        f"{lease_id}.{int(token) ^ 1}.0",  # another token
        f"{lease_id}.{token}.-1",
        f"{lease_id}.{token}.x",
        f"{lease_id}.{token}",
        f"{lease_id}.{token}.0.0",
        f"{lease_id}.{token}.{'9' * 30}",
    ]
    assert connector.queue_ack("q", forged) == 0
    assert connector.queue_ack("other", _receipts(batch)) == 0  # another queue's receipts
    assert connector.queue_ack("q", [batch[0].receipt, batch[0].receipt, batch[2].receipt]) == 2
    assert connector.queue_ack("q", [*forged, batch[1].receipt, batch[0].receipt]) == 1


def test_receipts_of_several_batches_in_one_call(connector: LocalConnector) -> None:
    connector.queue_push_bulk("q", _items(9))
    batches = [connector.queue_reserve("q", 3, 30) for _ in range(3)]
    mixed = [batches[2][0], batches[0][2], batches[1][1], batches[0][0], batches[2][1]]
    acked, more = connector.queue_ack_and_reserve("q", _receipts(mixed), 5, 30)
    assert (acked, more) == (5, [])
    assert _counts(connector, "q") == (0, 0, 4)
    left = [d for batch in batches for d in batch if d not in mixed]
    assert connector.queue_ack("q", _receipts(left)) == 4


def test_batch_larger_than_one_lease_row(
    connector: LocalConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_leases, "MAX_LEASE_BYTES", 40)
    items = _items(10)  # 10 bytes each: three rows of up to 4 items
    connector.queue_push_bulk("q", items)
    batch = connector.queue_reserve("q", 10, SHORT)
    assert [d.item for d in batch] == items
    assert len({d.receipt.rsplit(".", 1)[0] for d in batch}) == 3
    assert connector.queue_ack("q", _receipts(batch[3:6])) == 3
    again = _reserve_when_back(connector, "q", 10)
    assert [d.item for d in again] == items[:3] + items[6:]
    assert connector.queue_ack("q", _receipts(again)) == 7


def test_batch_beyond_the_cached_receipt_indexes(connector: LocalConnector) -> None:
    items = _items(5_000)
    connector.queue_push_bulk("q", items)
    batch = connector.queue_reserve("q", 5_000, 30)
    assert [d.item for d in batch] == items
    assert len(set(_receipts(batch))) == 5_000
    assert connector.queue_release("q", _receipts(batch[4_500:])) == 500
    acked, again = connector.queue_ack_and_reserve("q", _receipts(batch[:4_500]), 1_000, 30)
    assert acked == 4_500
    assert [d.item for d in again] == items[4_500:]
    assert connector.queue_ack("q", _receipts(again)) == 500


def test_a_failed_ack_and_reserve_undoes_its_acks(connector: LocalConnector) -> None:
    connector.queue_push_bulk("q", _items(2))
    first = connector.queue_reserve("q", 1, 30)
    conn = connector._db._local.conn
    assert conn is not None
    # This connection alone now fails to store a lease, after the acks ran.
    conn.execute(
        "CREATE TEMP TRIGGER refuse_leases BEFORE INSERT ON main.sergeant_leases"
        " BEGIN SELECT RAISE(ABORT, 'no lease today'); END"
    )
    with pytest.raises(StorageError, match="no lease today"):
        connector.queue_ack_and_reserve("q", _receipts(first), 1, 30)
    assert _counts(connector, "q") == (1, 0, 1)  # nothing half done
    conn.execute("DROP TRIGGER refuse_leases")
    acked, second = connector.queue_ack_and_reserve("q", _receipts(first), 1, 30)
    assert acked == 1
    assert [d.item for d in second] == [b"item-00001"]


# Schema version 1 --------------------------------------------------------------------

_VERSION_1 = """
CREATE TABLE sergeant_items (
    id INTEGER PRIMARY KEY, queue TEXT NOT NULL, priority INTEGER NOT NULL,
    visible_at REAL NOT NULL, lease INTEGER, deliveries INTEGER NOT NULL DEFAULT 0,
    ready_since REAL, item BLOB NOT NULL
);
CREATE INDEX sergeant_items_ready ON sergeant_items (queue, priority, visible_at);
CREATE TABLE sergeant_keys (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE sergeant_locks (
    name TEXT PRIMARY KEY, token TEXT NOT NULL, expires_at REAL NOT NULL
) WITHOUT ROWID;
PRAGMA user_version = 1;
"""


def test_a_version_1_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    now = time.time()
    old = sqlite3.connect(path)
    old.executescript(_VERSION_1)
    rows = [
        ("q", 1, now - 5, None, 0, None, b"normal-1"),
        ("q", 0, now - 1, None, 0, None, b"high"),
        ("q", 1, now - 5, None, 1, None, b"normal-2"),
        ("q", 1, now + 1, 12345, 1, now - 9, b"was-reserved"),
        ("q", 1, now + 60, None, 0, None, b"delayed"),
        ("other", 1, now - 5, None, 0, None, b"elsewhere"),
    ]
    old.executemany(
        "INSERT INTO sergeant_items"
        " (queue, priority, visible_at, lease, deliveries, ready_since, item)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    old.execute("INSERT INTO sergeant_keys VALUES ('k', x'00ff')")
    old.commit()
    old.close()
    with LocalConnector(file_path=str(path)) as connector:
        assert connector.queue_length("q", include_delayed=True) == 5
        got = connector.queue_reserve("q", 10, 30)
        assert [(d.item, d.deliveries) for d in got] == [
            (b"high", 1),
            (b"normal-1", 1),
            (b"normal-2", 2),
        ]
        back = _reserve_when_back(connector, "q", 10)
        assert [(d.item, d.deliveries) for d in back] == [(b"was-reserved", 2)]
        assert connector.queue_pop("other") == b"elsewhere"
        assert connector.key_get("k") == b"\x00\xff"
    check = sqlite3.connect(path)
    try:
        assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {row[0] for row in check.execute("SELECT name FROM sqlite_master")}
        assert "sergeant_items" not in tables
        assert "sergeant_clock" in tables  # every later version's tables exist too
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        check.close()


def test_mixed_delivery_counts_survive_a_lost_lease(connector: LocalConnector) -> None:
    connector.queue_push_bulk("q", [b"a", b"b", b"c"])
    (first,) = connector.queue_reserve("q", 1, 30)
    assert connector.queue_release("q", [first.receipt], consumable_from=0) == 1
    batch = connector.queue_reserve("q", 3, SHORT)
    assert [(d.item, d.deliveries) for d in batch] == [(b"a", 2), (b"b", 1), (b"c", 1)]
    again = _reserve_when_back(connector, "q", 3)
    assert [(d.item, d.deliveries) for d in again] == [(b"a", 3), (b"b", 2), (b"c", 2)]


def test_shortening_a_lease_still_gets_it_reclaimed(connector: LocalConnector) -> None:
    connector.queue_push_bulk("q", [b"long", b"short"])
    (long_one,) = connector.queue_reserve("q", 1, 60)
    (short_one,) = connector.queue_reserve("q", 1, 60)
    assert connector.queue_extend("q", [short_one.receipt], SHORT) == 1  # ends before the rest
    again = _reserve_when_back(connector, "q", 10)
    assert [(d.item, d.deliveries) for d in again] == [(b"short", 2)]
    # The scan that reclaimed it left a bound at the other lease: shorten that one too.
    assert connector.queue_extend("q", [long_one.receipt], SHORT) == 1
    assert [d.item for d in _reserve_when_back(connector, "q", 10)] == [b"long"]
    assert _counts(connector, "q") == (0, 0, 2)


def test_deleting_a_queue_drops_its_leases(connector: LocalConnector) -> None:
    connector.queue_push_bulk("q", _items(3))
    batch = connector.queue_reserve("q", 2, SHORT)
    assert connector.queue_delete("q") is True
    assert _counts(connector, "q") == (0, 0, 0)
    time.sleep(SHORT * 1.5)  # the deleted leases would have run out by now
    assert connector.queue_reserve("q", 10, 30) == []
    assert connector.queue_ack("q", _receipts(batch)) == 0
    connector.queue_push("q", b"fresh")
    assert [d.item for d in connector.queue_reserve("q", 10, SHORT)] == [b"fresh"]
    assert [d.deliveries for d in _reserve_when_back(connector, "q", 10)] == [2]


def test_a_version_2_file_keeps_its_leases(tmp_path: Path) -> None:
    path = str(tmp_path / "v2.sqlite3")
    with LocalConnector(file_path=path) as connector:
        connector.queue_push_bulk("q", [b"held", b"ready"])
        (held,) = connector.queue_reserve("q", 1, 1.0)
    old = sqlite3.connect(path)  # what version 2 looked like: an expiry index, no bounds
    old.executescript(
        "DROP TABLE sergeant_lease_queues;"
        "CREATE INDEX sergeant_leases_expiry ON sergeant_leases (queue, expires_at);"
        "PRAGMA user_version = 2;"
    )
    old.close()
    with LocalConnector(file_path=path) as connector:
        assert _counts(connector, "q") == (1, 0, 1)
        assert [d.item for d in connector.queue_reserve("q", 10, 30)] == [b"ready"]
        assert [(d.item, d.deliveries) for d in _reserve_when_back(connector, "q", 10)] == [
            (b"held", 2)
        ]
        assert connector.queue_ack("q", [held.receipt]) == 0
