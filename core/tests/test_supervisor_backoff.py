"""How the supervisor replaces a worker process that ended: at once (it ran tasks, lived,
or was killed from outside: SIGKILL, SIGTERM, SIGHUP), or after a back-off that grows
while processes keep dying by themselves at start-up."""

from __future__ import annotations

import signal
import time

import pytest
from sergeant._status import Counters
from sergeant.supervisor import Supervisor
from sergeant.worker._child import ExitCode


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


@pytest.mark.parametrize("returncode", [ExitCode.CRASHED, ExitCode.EXECUTION_FAILURE])
def test_each_quick_death_by_itself_doubles_the_back_off_up_to_its_cap(
    supervisor: Supervisor, returncode: int
) -> None:
    backoffs = []
    for _ in range(6):
        end(supervisor, EndedChild(processed=0, lived=0.1), returncode)
        backoffs.append(supervisor._backoff)
    assert backoffs == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert supervisor.spawned == 0  # type: ignore[attr-defined]
    assert len(supervisor._respawn_at) == 6


@pytest.mark.parametrize("signum", [signal.SIGSEGV, signal.SIGABRT, signal.SIGFPE, signal.SIGBUS])
def test_a_process_dying_of_its_own_fault_signal_backs_off(
    supervisor: Supervisor, signum: signal.Signals
) -> None:
    """A segfault or an abort comes from the process's own code: a crash loop
    in the making, unlike SIGKILL, SIGTERM or SIGHUP sent by someone else."""
    for _ in range(2):
        end(supervisor, EndedChild(processed=0, lived=0.1), -signum)
    assert supervisor.spawned == 0  # type: ignore[attr-defined]
    assert len(supervisor._respawn_at) == 2
    assert supervisor._backoff == 1.0


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP])
def test_a_kill_from_outside_in_a_crash_loop_neither_waits_nor_resets_the_back_off(
    supervisor: Supervisor, signum: signal.Signals
) -> None:
    """The pool is replaced at once after someone else's kill, but the kill proves
    nothing about the crash loop: the next death by itself waits as long as before."""
    end(supervisor, EndedChild(processed=0, lived=0.1), ExitCode.CRASHED)
    end(supervisor, EndedChild(processed=0, lived=0.1), ExitCode.CRASHED)
    assert (supervisor._backoff, len(supervisor._respawn_at)) == (1.0, 2)
    end(supervisor, EndedChild(processed=0, lived=0.1), -signum)
    assert supervisor.spawned == 1  # type: ignore[attr-defined]
    assert (supervisor._backoff, len(supervisor._respawn_at)) == (1.0, 2)
    end(supervisor, EndedChild(processed=0, lived=0.1), ExitCode.CRASHED)
    assert (supervisor._backoff, len(supervisor._respawn_at)) == (2.0, 3)


def test_a_storm_of_outside_kills_before_start_up_ends_keeps_the_pool_full(
    supervisor: Supervisor,
) -> None:
    """A kill storm on a loaded machine: every process dies before its first task.
    Each is replaced at once, so the pool is never left waiting out a back-off."""
    kills = [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP] * 20
    for signum in kills:
        end(supervisor, EndedChild(processed=0, lived=0.05), -signum)
    assert supervisor.spawned == len(kills)  # type: ignore[attr-defined]
    assert supervisor._respawn_at == []
    assert supervisor._backoff == 0.25
