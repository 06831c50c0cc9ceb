"""How the supervisor replaces a worker process that ended: at once, or after a back-off."""

from __future__ import annotations

import signal
import time

import pytest
from sergeant._status import Counters
from sergeant.supervisor import Supervisor


class EndedChild:
    """Stands in for a worker process that has already ended (only what ``_ended`` reads)."""

    def __init__(self, processed: int, lived: float) -> None:
        self.counters = Counters(processed=processed)
        self.started = time.monotonic() - lived
        self.killed_for: str | None = None
        self.pid = 4242

    def read(self) -> tuple[Counters, float]:
        return self.counters, 0.0

    def close(self) -> None:
        pass


@pytest.fixture
def supervisor(monkeypatch: pytest.MonkeyPatch) -> Supervisor:
    supervisor = Supervisor("module", "Worker", concurrent_workers=4)
    supervisor.spawned = 0  # type: ignore[attr-defined]

    def spawn() -> None:
        supervisor.spawned += 1  # type: ignore[attr-defined]

    monkeypatch.setattr(supervisor, "_spawn", spawn)
    return supervisor


def end(supervisor: Supervisor, child: EndedChild, returncode: int) -> None:
    supervisor.children.append(child)  # type: ignore[arg-type]
    supervisor._ended(child, returncode)  # type: ignore[arg-type]


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP])
def test_a_process_killed_from_outside_before_its_first_task_is_replaced_at_once(
    supervisor: Supervisor, signum: signal.Signals
) -> None:
    """On a busy machine start-up takes seconds: a kill then is someone else's doing,
    not a crash loop, so it must not slow the pool down."""
    for _ in range(3):
        end(supervisor, EndedChild(processed=0, lived=0.1), -signum)
    assert supervisor.spawned == 3  # type: ignore[attr-defined]
    assert supervisor._respawn_at == []
    assert supervisor._backoff == 0.25


def test_a_process_dying_by_itself_at_once_is_replaced_ever_more_slowly(
    supervisor: Supervisor,
) -> None:
    for _ in range(3):
        end(supervisor, EndedChild(processed=0, lived=0.1), 1)  # an exception at start-up
    assert supervisor.spawned == 0  # type: ignore[attr-defined]
    assert len(supervisor._respawn_at) == 3
    assert supervisor._backoff == 2.0


def test_a_process_the_supervisor_killed_itself_counts_as_dying(supervisor: Supervisor) -> None:
    child = EndedChild(processed=0, lived=0.1)
    child.killed_for = "its task ignored the timeout"
    end(supervisor, child, -signal.SIGKILL)
    assert supervisor.spawned == 0  # type: ignore[attr-defined]
    assert len(supervisor._respawn_at) == 1


def test_a_process_that_ran_tasks_is_replaced_at_once_and_resets_the_back_off(
    supervisor: Supervisor,
) -> None:
    end(supervisor, EndedChild(processed=0, lived=0.1), 1)
    end(supervisor, EndedChild(processed=0, lived=0.1), 1)
    assert supervisor._backoff == 1.0
    end(supervisor, EndedChild(processed=3, lived=0.3), -signal.SIGKILL)
    assert supervisor.spawned == 1  # type: ignore[attr-defined]
    assert supervisor._backoff == 0.25
    assert supervisor.finished.processed == 3
