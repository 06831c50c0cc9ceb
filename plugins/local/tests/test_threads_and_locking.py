"""Threads sharing one connector, and another process's long write transaction."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sergeant.errors import ConnectorUnavailableError, StorageError
from sergeant_local import LocalConnector


def test_threads_sharing_one_connector_get_distinct_items(tmp_path: Path) -> None:
    items = [f"t-{i:05d}".encode() for i in range(3_000)]
    got: list[bytes] = []
    errors: list[BaseException] = []
    record = threading.Lock()
    with LocalConnector(file_path=str(tmp_path / "db.sqlite3")) as connector:
        connector.queue_push_bulk("q", items)

        def consume() -> None:
            try:
                while batch := connector.queue_reserve("q", 9, 60):
                    assert connector.queue_ack("q", [d.receipt for d in batch]) == len(batch)
                    with record:
                        got.extend(d.item for d in batch)
                    if (one := connector.queue_pop("q")) is not None:
                        with record:
                            got.append(one)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=consume) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert not errors, errors
    assert [item for item, n in Counter(got).items() if n > 1] == []
    assert sorted(got) == items


def test_close_reaches_connections_of_other_threads(tmp_path: Path) -> None:
    connector = LocalConnector(file_path=str(tmp_path / "db.sqlite3"))
    ready, closed, outcome = threading.Event(), threading.Event(), []

    def worker() -> None:
        connector.queue_push("q", b"from-thread")
        ready.set()
        closed.wait(30)
        try:
            connector.queue_pop("q")
        except StorageError as exc:
            outcome.append(str(exc))

    thread = threading.Thread(target=worker)
    thread.start()
    assert ready.wait(30)
    connector.close()
    closed.set()
    thread.join(30)
    assert len(outcome) == 1
    assert "is closed; create a new one" in outcome[0]


def test_a_long_foreign_write_transaction_gives_a_clear_error(tmp_path: Path) -> None:
    path = str(tmp_path / "db.sqlite3")
    with LocalConnector(file_path=path, busy_timeout_seconds=0.2) as connector:
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            with pytest.raises(ConnectorUnavailableError) as caught:
                connector.queue_push("q", b"blocked")
            message = str(caught.value)
            assert path in message
            assert "busy_timeout_seconds" in message
            assert connector.queue_length("q") == 0  # WAL: readers are never blocked
            holder.execute("COMMIT")
        finally:
            holder.close()
        assert connector.queue_push("q", b"through") is True
        assert connector.queue_pop("q") == b"through"


def test_a_call_waits_busy_timeout_seconds_once_not_twice(tmp_path: Path) -> None:
    """SQLite's busy handler waits the timeout, then the retries used to wait it
    again from the start: 2 s configured, 4 s waited. The bound is generous
    (3.5 s) so a loaded machine's late wake-ups cannot fail it."""
    path = str(tmp_path / "db.sqlite3")
    with LocalConnector(file_path=path, busy_timeout_seconds=2) as connector:
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            with pytest.raises(ConnectorUnavailableError, match="stayed locked for 2s"):
                connector.queue_push("q", b"blocked")
            waited = time.monotonic() - started
        finally:
            holder.close()
    assert 2.0 <= waited < 3.5
