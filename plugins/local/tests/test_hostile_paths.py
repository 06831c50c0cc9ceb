"""Hostile ``file_path`` values fail at construction with ConfigError naming the
path and the fix, touching nothing (no traceback, no file created beside a device)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sergeant.errors import ConfigError
from sergeant_local import LocalConnector


@pytest.mark.parametrize("target", ["/dev/null", "fifo"])
def test_a_device_or_fifo_is_refused_before_sqlite_opens_it(tmp_path: Path, target: str) -> None:
    """SQLite follows the symlink: it would fail with a misleading 'disk I/O error'
    and, for root, create ``/dev/null-journal``."""
    os.mkfifo(tmp_path / "fifo")
    link = tmp_path / "queue.sqlite3"
    link.symlink_to(target if target.startswith("/") else tmp_path / target)
    for path in (link, tmp_path / "fifo"):
        with pytest.raises(ConfigError, match=r"is a device, FIFO or socket, not a file") as caught:
            LocalConnector(file_path=str(path))
        assert str(path) in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "queue.sqlite3"]


def test_a_relative_path_once_the_current_folder_is_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    with pytest.raises(ConfigError, match=r"current folder was deleted; give an absolute path"):
        LocalConnector(file_path="queue.sqlite3")


def test_a_trailing_slash_names_a_folder_not_a_new_file(tmp_path: Path) -> None:
    """``local:/var/lib/sergeant/`` used to create a database file named ``sergeant``."""
    with pytest.raises(ConfigError, match=r"names a folder \(a trailing slash\)"):
        LocalConnector(file_path=f"{tmp_path / 'queues'}/")
    assert list(tmp_path.iterdir()) == []
