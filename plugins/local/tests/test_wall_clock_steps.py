"""A step of the wall clock moves neither ready times nor leases of the local backend."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from sergeant_local import LocalConnector

HOUR = 3600.0


def _step(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + seconds)


def test_items_pushed_before_a_step_back_stay_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = LocalConnector(file_path=str(tmp_path / "q.sqlite3"))
    connector.queue_push("q", b"before")
    _step(monkeypatch, -HOUR)
    assert connector.queue_length("q") == 1
    assert connector.queue_pop("q") == b"before"


def test_a_delay_is_a_duration_across_a_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = LocalConnector(file_path=str(tmp_path / "q.sqlite3"))
    connector.queue_push("q", b"later", consumable_from=time.time() + 600)
    _step(monkeypatch, HOUR)  # forward past the date it was given: still 10 minutes away
    assert connector.queue_pop("q") is None
    assert connector.queue_length("q", include_delayed=True) == 1


def test_a_lease_survives_a_step_forward_and_is_not_handed_out_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    connector = LocalConnector(file_path=str(tmp_path / "q.sqlite3"))
    connector.queue_push("q", b"task")
    (held,) = connector.queue_reserve("q", 1, 30)
    _step(monkeypatch, HOUR)
    assert connector.queue_reserve("q", 1, 30) == []
    assert connector.queue_ack("q", [held.receipt]) == 1


def test_migrated_items_are_ready_on_the_lease_clock_after_a_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sergeant 0.27.0's items moved after a step forward are ready at once (not an
    hour later), and a delayed one keeps its wall-clock delay as a duration."""
    path = tmp_path / "q.sqlite3"
    connector = LocalConnector(file_path=str(path))
    connector.queue_push("anchor", b"x")  # the file's lease clock is anchored now
    _step(monkeypatch, HOUR)
    with sqlite3.connect(path) as old:  # as Sergeant 0.27.0 stored them
        old.execute("CREATE TABLE task_queue (queue_name TEXT, priority REAL, value BLOB)")
        old.executemany(
            "INSERT INTO task_queue VALUES (?, ?, ?)",
            [("q", 1.0, b"normal"), ("q", 0.0, b"high"), ("q", time.time() + 600, b"later")],
        )
    old.close()
    report = connector.migrate_legacy(["q"])
    assert [(q.name, q.ready, q.high, q.delayed) for q in report.queues] == [("q", 2, 1, 1)]
    assert connector.queue_pop_bulk("q", 10) == [b"high", b"normal"]
    assert connector.queue_length("q", include_delayed=True) == 1  # "later": 10 minutes away
    connector.close()
