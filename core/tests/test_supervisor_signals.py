"""SIGTERM/SIGINT reach the supervisor at any moment of its loop: every worker process,
one being started at that very moment included, is asked to stop; a second signal kills."""

from __future__ import annotations

import itertools
import signal
import time
from typing import Any

import pytest
import sergeant.supervisor
from sergeant._status import Counters
from sergeant.supervisor import Supervisor

_pids = itertools.count(10_000)


class FakeProcess:
    """A running worker process that records the signals sent to it."""

    def __init__(self) -> None:
        self.pid = next(_pids)
        self.signals: list[int] = []

    def poll(self) -> int | None:
        return None

    def send_signal(self, signum: int) -> None:
        self.signals.append(signum)


class FakeChild:
    """Stands in for ``_Child``; ``during_start`` runs while it is being started."""

    during_start: Any = None
    started_children: list[FakeChild] = []

    def __init__(self, *_args: object) -> None:
        if FakeChild.during_start is not None:
            FakeChild.during_start()
        self.process = FakeProcess()
        self.leases = None
        self.started = time.monotonic()
        self.killed_for: str | None = None
        FakeChild.started_children.append(self)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return True

    def read(self) -> tuple[Counters, float]:
        return Counters(), 0.0

    def close(self) -> None:
        pass


@pytest.fixture
def supervisor(monkeypatch: pytest.MonkeyPatch) -> Supervisor:
    monkeypatch.setattr(sergeant.supervisor, "_Child", FakeChild)
    monkeypatch.setattr(FakeChild, "during_start", None)
    monkeypatch.setattr(FakeChild, "started_children", [])
    return Supervisor("module", "Worker", concurrent_workers=2)


def test_a_signal_arriving_while_a_worker_is_being_started_stops_that_worker_too(
    supervisor: Supervisor,
) -> None:
    """The case CI met: the stop came while a killed worker was being replaced, and the
    replacement, started after the others were told to stop, ran on forever."""
    supervisor._spawn()
    FakeChild.during_start = lambda: supervisor._on_signal(signal.SIGTERM, None)
    supervisor._spawn()
    FakeChild.during_start = None
    supervisor._supervise()
    assert supervisor.stopping
    assert len(FakeChild.started_children) == 2
    for child in FakeChild.started_children:
        assert child.process.signals == [signal.SIGTERM]


def test_no_worker_is_started_once_a_stop_signal_came(supervisor: Supervisor) -> None:
    supervisor._respawn_at.append(time.monotonic())  # a replacement is due
    supervisor._on_signal(signal.SIGINT, None)
    supervisor._supervise()
    assert FakeChild.started_children == []
    assert supervisor._respawn_at == []


def test_a_second_signal_kills_every_worker(supervisor: Supervisor) -> None:
    supervisor._spawn()
    supervisor._spawn()
    supervisor._on_signal(signal.SIGTERM, None)
    supervisor._supervise()
    supervisor._on_signal(signal.SIGTERM, None)
    supervisor._supervise()
    for child in FakeChild.started_children:
        assert child.process.signals == [signal.SIGTERM, signal.SIGKILL]
