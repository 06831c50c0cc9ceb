"""A file whose tables only share a name with Sergeant 0.27.0's (``keys`` is a common
table name) is another application's: refused before anything in it changes. It
used to be taken for a Sergeant 0.27.0 file, get sergeant's tables added, and
``sergeant migrate`` then failed with 'no such column: queue_name'."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sergeant.errors import StorageError
from sergeant_local import LocalConnector


@pytest.mark.parametrize(
    "table",
    [
        "keys (id INTEGER PRIMARY KEY, secret BLOB)",
        "task_queue (id INTEGER PRIMARY KEY, payload TEXT)",
        "locks (name TEXT)",
    ],
)
def test_same_name_other_columns_is_refused_and_left_alone(tmp_path: Path, table: str) -> None:
    path = tmp_path / "app.sqlite3"
    app = sqlite3.connect(path)
    app.execute(f"CREATE TABLE {table}")
    app.commit()
    app.close()
    name = table.split()[0]
    with pytest.raises(StorageError, match=rf"another application's tables \({name}\)"):
        LocalConnector(file_path=str(path))
    app = sqlite3.connect(path)
    assert [row[0] for row in app.execute("SELECT name FROM sqlite_master")] == [name]
    assert app.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
