"""Bad params and unusable paths fail at construction, naming the field, the path and the fix."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sergeant
from sergeant.errors import ConfigError, SergeantError, StorageError
from sergeant_local import LocalConnector, default_file_path


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"file_paht": "/tmp/x.sqlite3"}, "'file_paht'"),
        ({"file_path": 42}, "file_path"),
        ({"file_path": ""}, "file_path"),
        ({"file_path": ":memory:"}, "file_path"),
        ({"file_path": "/tmp/q\x00.sqlite3"}, "file_path"),
        ({"file_path": "/tmp/" + "n" * 5000 + ".sqlite3"}, "file_path"),
        ({"busy_timeout_seconds": 0}, "busy_timeout_seconds"),
        ({"busy_timeout_seconds": "soon"}, "busy_timeout_seconds"),
        ({"synchronous": "OFF"}, "synchronous"),
    ],
)
def test_bad_params_name_the_field(params: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        LocalConnector(**params)
    assert field in str(caught.value)


def test_unknown_param_suggests_the_right_one_at_construction() -> None:
    with pytest.raises(ConfigError, match=r"did you mean 'file_path'"):
        sergeant.config.Connector(type="local", params={"file_paht": "/tmp/x.sqlite3"})
    with pytest.raises(ConfigError, match=r"did you mean 'file_path'"):
        LocalConnector(file_paht="/tmp/x.sqlite3")  # the class checks too


def test_missing_folder_names_it_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "absent" / "db.sqlite3"
    with pytest.raises(ConfigError) as caught:
        LocalConnector(file_path=str(path))
    message = str(caught.value)
    assert "file_path" in message
    assert f"{tmp_path / 'absent'} does not exist" in message
    assert "mkdir -p" in message
    assert not path.parent.exists()


def test_parent_that_is_a_file_cannot_hold_the_database(tmp_path: Path) -> None:
    # Root can write anywhere, but nobody can create a file under a regular file.
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match=r"blocker is a file, not a folder"):
        LocalConnector(file_path=str(blocker / "db.sqlite3"))


def test_folder_given_as_file_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"is a folder; name a file inside it"):
        LocalConnector(file_path=str(tmp_path))


def test_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    with pytest.raises(StorageError) as caught:
        LocalConnector(file_path=str(path))
    assert str(path) in str(caught.value)
    assert "not a SQLite database" in str(caught.value)
    assert path.read_bytes().startswith(b"these are my notes"), "the file is left alone"


def test_pathlike_and_home_expansion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with LocalConnector(file_path="~/db.sqlite3") as connector:
        assert connector.file_path == str(tmp_path / "db.sqlite3")
    with LocalConnector(file_path=tmp_path / "db.sqlite3") as connector:
        assert connector.queue_push("q", b"x")


def test_default_path_is_in_the_user_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    expected = tmp_path / "cache" / "sergeant" / "sergeant.sqlite3"
    assert default_file_path() == str(expected)
    with sergeant.connect(sergeant.config.Connector(params={})) as connector:
        assert isinstance(connector, LocalConnector)
        assert connector.file_path == str(expected)
        connector.queue_push("q", b"x")
    assert expected.exists()


def test_calls_after_close_fail_clearly(tmp_path: Path) -> None:
    connector = LocalConnector(file_path=str(tmp_path / "db.sqlite3"))
    connector.close()
    with pytest.raises(StorageError, match=r"is closed; create a new one"):
        connector.queue_pop("q")


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    LocalConnector(file_path=str(path)).close()
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA user_version = 99")
    with pytest.raises(SergeantError, match=r"schema version 99.*upgrade sergeant-local"):
        LocalConnector(file_path=str(path))


def test_repr_and_stats_name_the_file(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite3")
    with LocalConnector(file_path=path) as connector:
        assert repr(connector) == f"LocalConnector(file_path={path!r})"
        assert [s.node for s in connector.queue_stats("q")] == [path]
    assert os.path.exists(path)


def test_old_sqlite_is_refused_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    with pytest.raises(StorageError, match=r"needs SQLite 3\.35 or newer \(for RETURNING\)"):
        LocalConnector(file_path=str(tmp_path / "db.sqlite3"))
