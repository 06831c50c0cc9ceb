"""Scenario 12: the wall clock steps an hour forward or back in the middle of a task.

Two worker processes run under the supervisor, all three with libfaketime
preloaded (see ``faketime_shim/sitecustomize.py`` for how and why): their wall
clock starts real and, once the task is in flight, moves by +1 h or -1 h at
once, as ``date -s`` or an NTP step would move it; the monotonic clock does not
move. The task sleeps 8 s with a 20 s timeout and a 2 s lease, so it spans
four leases and ends well before its timeout unless the step is taken for
elapsed time. The second worker, on the same stepped clock, polls the queue
throughout; so does the test process, trying to reserve the task all the
while. The test process stays on the real clock on purpose: it is the process
whose clock disagrees with the workers' by an hour (one started before the
step, or one whose step has not landed yet), the case where leases on a
per-process clock are handed out twice.

What a step used to break: a watchdog on the wall clock times the task out at
a step forward; a lease on the wall clock looks an hour old to a process whose
clock is an hour ahead (+1 h: the other worker takes the task), and leases
renewed an hour behind look expired to everyone else (-1 h: the test takes it).

Verdict: no timeout, the task ran exactly once on its first delivery, nobody
else got it while it ran (the test's reserve attempts all came back empty, and
the lease stayed in flight throughout), nothing dead-lettered, queued or in
flight after, and the step really landed in the middle of the task (the task's
own wall-clock start and end are an hour apart, less or more its duration).
Runs on local (the lease clock of :mod:`sergeant_local._clock`), redis
(leases on the server's clock) and mongo (leases on the server's clock, which
each client reads now and then and follows on its monotonic clock:
:mod:`sergeant_mongo._clock`).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path

import pytest
import sergeant
from reliability_report import Outcome, record
from scenario_support import HERE, Runs, connector_config, supervised, wait_for
from sergeant.broker import Broker, dead_queue_name
from sergeant.task import Task

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")
SHIM = HERE / "faketime_shim"
HOUR = 3600
TASK_SECONDS = 8.0
TIMEOUT = 20.0
LEASE = 2.0
BOUND = 120.0


def libfaketime() -> Path:
    """The preload library (scripts/test installs the Debian package ``faketime``)."""
    if LIBFAKETIME.exists():
        return LIBFAKETIME
    found = next(Path("/usr/lib").rglob("libfaketimeMT.so.1"), None)
    if found is None:
        pytest.fail("libfaketime is missing: run scripts/test, or 'apt-get install -y faketime'")
    return found


class SteppedClock:
    """The wall clock of every process started with :meth:`env`, moved by :meth:`step`."""

    def __init__(self, folder: Path) -> None:
        self.spec = folder / "faketime-offset"
        self.spec.write_text("+0\n")

    def env(self) -> dict[str, str]:
        return {
            "LD_PRELOAD": str(libfaketime()),
            "FAKETIME_TIMESTAMP_FILE": str(self.spec),
            "FAKETIME_CACHE_DURATION": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "PYTHONPATH": os.pathsep.join([str(SHIM), str(HERE), os.environ.get("PYTHONPATH", "")]),
        }

    def step(self, seconds: int) -> None:
        """From now on (within about two seconds) those processes' clocks are ``seconds`` off."""
        staged = self.spec.with_suffix(".new")
        staged.write_text(f"{seconds:+d}\n")
        staged.replace(self.spec)


def in_flight(connector: sergeant.Connector, queue: str) -> int:
    return sum(row.in_flight for row in connector.queue_stats(queue))


@pytest.mark.parametrize("backend", ["local", "redis", "mongo"])
@pytest.mark.parametrize("offset", [HOUR, -HOUR], ids=["forward", "backward"])
def test_a_wall_clock_step_mid_task_neither_times_it_out_nor_hands_it_out_again(
    backend: str, offset: int, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    config = connector_config(backend, tmp_path, request)
    queue = f"clock-{uuid.uuid4().hex[:8]}"
    clock = SteppedClock(tmp_path)
    log = tmp_path / "supervisor.log"
    options = {
        "lease_seconds": LEASE,
        "tasks_per_transaction": 1,
        "max_deliveries": 3,
        "timeout": TIMEOUT,
    }
    runs = Runs()
    probes, handed_out, lapses = 0, 0, 0
    with sergeant.connect(config) as connector:
        broker = Broker(connector)
        with supervised(config, queue, log, concurrency=2, options=options, extra_env=clock.env()):
            broker.push_task(queue, Task(kwargs={"id": 0, "sleep": TASK_SECONDS}))
            wait_for(lambda: in_flight(connector, queue) == 1, BOUND, "the task in flight")
            clock.step(offset)
            stepped_at = time.monotonic()

            def probe() -> bool:
                """One reserve attempt on the real clock while the task runs; True once
                it was acked."""
                nonlocal probes, handed_out, lapses
                probes += 1
                got = connector.queue_reserve(queue, 1, 60)
                if got:  # a live lease handed out: count it, give it back to the workers
                    handed_out += 1
                    connector.queue_release(queue, [d.receipt for d in got], consumable_from=0)
                running = in_flight(connector, queue)
                done = running == 0 and connector.queue_length(queue, include_delayed=True) == 0
                if not done and running == 0:
                    lapses += 1
                return done

            wait_for(probe, BOUND, "the task to run and be acked")
            ran_for = time.monotonic() - stepped_at
        runs.collect(connector, queue)  # stopped gracefully: a second run has finished
        dead = connector.queue_length(dead_queue_name(queue), include_delayed=True)
        left = connector.queue_length(queue, include_delayed=True) + in_flight(connector, queue)
    output = log.read_text()
    summary = re.search(r"summary: .* timed out (\d+)", output)  # the CLI's last line
    timed_out = int(summary.group(1)) if summary else -1
    deliveries = [int(r["deliveries"]) for r in runs.records]
    jumps = [float(r["ended"]) - float(r["started"]) for r in runs.records]
    jump = jumps[0] if jumps else 0.0
    landed_mid_task = abs(jump - offset) < TASK_SECONDS + 5 and abs(jump) > HOUR / 2
    verdict = (
        timed_out == 0
        and deliveries == [1]
        and handed_out == 0
        and lapses == 0
        and dead == 0
        and left == 0
        and landed_mid_task
    )
    step = f"{offset // HOUR:+d} h"
    direction = "forward" if offset > 0 else "back"
    record(
        Outcome(
            scenario=f"12. wall-clock step {direction} ({step})",
            backend=backend,
            load=f"1 task sleeping {TASK_SECONDS:g} s, timeout {TIMEOUT:g} s, lease {LEASE:g} s; "
            "2 worker processes under the supervisor",
            faults=f"the wall clock of the supervisor and its workers stepped {step} mid-task "
            "(libfaketime; monotonic clock untouched)",
            lost=1 - len(runs.by_id()),
            duplicates=runs.duplicates(),
            verdict="pass" if verdict else "fail",
            details=f"Runs: {len(runs.records)}, deliveries: {deliveries}, timed out: "
            f"{timed_out}, dead-lettered: {dead}; the task's own wall clock read {jump:+.0f} s "
            f"between its start and end; {probes} reserve attempts on the real clock while it "
            f"ran, {handed_out} got it; lease lapsed in {lapses} probes; acked {ran_for:.1f} s "
            "after the step was written.",
            figures={
                "runs": len(runs.records),
                "deliveries": max(deliveries, default=0),
                "timed_out": timed_out,
                "wall_clock_jump_seconds": round(jump),
                "reserve_attempts": probes,
                "handed_out_again": handed_out,
                "lease_seconds": LEASE,
            },
        )
    )
    assert landed_mid_task, f"the step did not land mid-task (the task saw {jump:+.1f} s)"
    assert verdict, (deliveries, timed_out, handed_out, lapses, dead, left, output[-3000:])
