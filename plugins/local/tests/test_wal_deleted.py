"""The ``-wal`` file deleted while a connector has the database open: SQLite then
fails every other process with 'disk I/O error' (SQLITE_IOERR_SHORT_READ), which
sent the operator to check the disk. The error now names the likely cause and the
fix, and nothing committed is lost: the last connection to close writes it back."""

from __future__ import annotations

from pathlib import Path

import pytest
from sergeant.errors import StorageError
from sergeant_local import LocalConnector


def test_a_deleted_wal_is_named_and_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    holder = LocalConnector(file_path=str(path))
    holder.queue_push_bulk("q", [b"a", b"b", b"c"])
    Path(f"{path}-wal").unlink()
    with pytest.raises(StorageError, match=r"was its -wal file deleted") as caught:
        LocalConnector(file_path=str(path)).queue_length("q")
    assert "Stop every process using it" in str(caught.value)
    assert holder.queue_pop("q") == b"a"
    holder.close()
    with LocalConnector(file_path=str(path)) as again:
        assert again.queue_pop_bulk("q", 10) == [b"b", b"c"]
