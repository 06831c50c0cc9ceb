"""Rows in Sergeant 0.27.0's ``task_queue`` that Sergeant never wrote (something
else did): a TEXT value, a priority that is NULL or not a number, a NULL value.

Before: a TEXT value moved as text and came back from our queue as ``str``
(the contract says bytes), then the CLI crashed; a string priority crashed the
move; a NULL priority was never counted and the report said nothing was left;
a NULL value crashed the payload sniffing. Now a TEXT value moves as its bytes,
the other rows stay in the old table, and the report says how many.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sergeant_local import LocalConnector


@pytest.fixture
def path(tmp_path: Path) -> Path:
    file = tmp_path / "old.sqlite3"
    old = sqlite3.connect(file)
    old.execute("CREATE TABLE task_queue (queue_name TEXT, priority REAL, value BLOB)")
    old.executemany(
        "INSERT INTO task_queue VALUES (?, ?, ?)",
        [
            ("q", 1.0, b"first"),
            ("q", 1.0, "text value"),
            ("q", None, b"null priority"),
            ("q", "soon", b"text priority"),
            ("q", 1.0, None),
            ("q", 1.0, b"last"),
        ],
    )
    old.commit()
    old.close()
    return file


def test_rows_sergeant_never_wrote_stay_behind_and_are_reported(path: Path) -> None:
    with LocalConnector(file_path=str(path)) as connector:
        dry = connector.migrate_legacy(dry_run=True)
        assert dry.items == 3
        report = connector.migrate_legacy()
        assert report.items == 3
        assert any("rows left in task_queue: 3" in note for note in report.notes)
        assert connector.queue_pop_bulk("q", 10) == [b"first", b"text value", b"last"]
        again = connector.migrate_legacy()
        assert again.items == 0
        assert any("rows left in task_queue: 3" in note for note in again.notes)
    left = sqlite3.connect(path).execute("SELECT count(*) FROM task_queue").fetchone()[0]
    assert left == 3
