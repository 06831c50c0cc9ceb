"""A file_path naming another application's SQLite database is refused, naming
its tables, before the file is changed at all (it used to get sergeant's tables
added and WAL switched on for good, or an error about schema versions or
missing tables). Sergeant 0.27.0's tables are not foreign: they are migrated."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sergeant.errors import StorageError
from sergeant_local import LocalConnector


def app_database(path: Path, user_version: int) -> None:
    app = sqlite3.connect(path)
    app.execute("CREATE TABLE users (name TEXT)")
    app.execute(f"PRAGMA user_version = {user_version}")
    app.commit()
    app.close()


@pytest.mark.parametrize("user_version", [0, 1, 99])
def test_another_applications_file_is_refused_and_left_as_it_was(
    tmp_path: Path, user_version: int
) -> None:
    path = tmp_path / "app.sqlite3"
    app_database(path, user_version)
    with pytest.raises(StorageError, match=r"another application's tables \(users\)"):
        LocalConnector(file_path=str(path)).queue_length("q")
    app = sqlite3.connect(path)
    tables = [row[0] for row in app.execute("SELECT name FROM sqlite_master")]
    assert tables == ["users"]
    assert app.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert app.execute("PRAGMA user_version").fetchone()[0] == user_version


def test_a_file_with_sergeant_0_27_tables_is_ours_to_use(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE task_queue (queue_name TEXT, priority REAL, value BLOB)")
    old.execute("CREATE TABLE keys (name TEXT, value BLOB)")
    old.execute("CREATE TABLE locks (name TEXT, expireAt REAL)")
    old.commit()
    old.close()
    with LocalConnector(file_path=str(path)) as connector:
        assert connector.queue_push("q", b"x")
        assert connector.queue_pop("q") == b"x"
