"""``sergeant dead requeue`` is long CLI work (a million dead letters: ~11 s on
local): it redraws its progress on a terminal, a step at a time, and still moves
exactly what was there."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import sergeant
from sergeant.broker import Broker, dead_queue_name
from sergeant.cli import dead, main


def test_requeue_shows_progress_on_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = sergeant.config.Connector(params={"file_path": str(tmp_path / "q.sqlite3")})
    with sergeant.connect(config) as connector:
        broker = Broker(connector)
        for n in range(10):
            broker.dead_letter("q", broker.encoder.encode_task(sergeant.Task({"n": n})), "boom", 3)
    monkeypatch.setattr(dead, "STEP", 3, raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    spec = f"local:{tmp_path / 'q.sqlite3'}"
    assert main(["dead", "requeue", "q", "--connector", spec]) == 0
    captured = capsys.readouterr()
    assert "requeued 10 dead letters" in captured.out
    shown = [part for part in captured.err.split("\r\x1b[K") if part]
    assert shown == [f"requeued {n} of 10 dead letters" for n in (3, 6, 9, 10)]
    with sergeant.connect(config) as connector:
        assert connector.queue_length("q") == 10
        assert connector.queue_length(dead_queue_name("q"), include_delayed=True) == 0
        assert [t.kwargs["n"] for t in Broker(connector).pop_tasks("q", 10)] == list(range(10))
