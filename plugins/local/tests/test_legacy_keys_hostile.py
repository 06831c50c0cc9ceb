"""Rows in Sergeant 0.27.0's ``keys`` that Sergeant never wrote: a NULL value, an
integer value, a blob or NULL name, a TEXT value.

Before: a NULL value failed every ``sergeant migrate`` (NOT NULL constraint, the
whole key batch rolled back, on every run) and a TEXT value came back from
``key_get`` as ``str``. Now a TEXT value moves as its bytes; the other rows stay
in the old table and the report says how many.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sergeant_local import LocalConnector


def test_keys_sergeant_never_wrote_stay_behind_and_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE keys (name TEXT, value BLOB)")
    rows = [("k1", None), ("text", "a text value"), ("k3", 42), (b"blob", b"v"), (None, b"v")]
    old.executemany("INSERT INTO keys VALUES (?, ?)", [*rows, ("ok", b"bytes")])
    old.commit()
    old.close()
    with LocalConnector(file_path=str(path)) as connector:
        assert connector.migrate_legacy(dry_run=True).keys == 2
        report = connector.migrate_legacy()
        assert report.keys == 2
        assert any("rows left in keys: 4" in note for note in report.notes)
        assert connector.key_get("text") == b"a text value"
        assert connector.key_get("ok") == b"bytes"
        assert connector.key_get("k1") is None
    left = sqlite3.connect(path).execute("SELECT count(*) FROM keys").fetchone()[0]
    assert left == 4
