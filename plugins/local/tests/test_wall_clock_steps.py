"""A step of the wall clock moves neither ready times nor leases of the local backend."""

from __future__ import annotations

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
