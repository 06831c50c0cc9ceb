"""Scenario 12: the wall clock steps an hour while tasks run.

Two worker processes under the supervisor run tasks of 4 s with a 20 s timeout
and a 2 s lease. Once a task runs, the wall clock of every worker
process (supervisor included) steps by +1 h, or by -1 h, through the shim in
``clock_shim/`` (``time.time()`` moves, ``time.monotonic()`` does not, as in
a real step), and so does the test process's, which reads the results.
Before the fix the timeout watchdog and the supervisor's kill deadline
measured wall time, so a +1 h step timed tasks out 1.5 s into their
20 s (``WorkerTimedout``), and on local their leases "expired" too and they ran
again. Every duration is now monotonic, and the local backend's lease clock is
monotonic plus a per-boot anchor stored in the file.

Verdict: every task runs exactly once, on its first delivery, with no timeout
and no dead letter.
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

TASKS = 4
TASK_SECONDS = 4.0


@pytest.mark.parametrize("backend", ["local", "redis"])
@pytest.mark.parametrize("step_hours", [1, -1])
def test_clock_step(
    backend: str,
    step_hours: int,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = connector_config(backend, tmp_path, request)
    queue = f"clock-{uuid.uuid4().hex[:8]}"
    offset_file = tmp_path / "clock-offset"
    offset_file.write_text("0")
    env = {
        "SERGEANT_TEST_CLOCK_OFFSET_FILE": str(offset_file),
        "PYTHONPATH": os.pathsep.join([str(HERE / "clock_shim"), os.environ.get("PYTHONPATH", "")]),
    }
    options = {
        "tasks_per_transaction": 1,
        "lease_seconds": 2.0,
        "max_deliveries": 3,
        "timeout": 20.0,
    }
    runs = Runs()
    log = tmp_path / "workers.log"
    with sergeant.connect(config) as connector:
        broker = Broker(connector)
        broker.push_tasks(
            queue, [Task(kwargs={"id": i, "sleep": TASK_SECONDS}) for i in range(TASKS)]
        )

        def running() -> bool:
            return sum(s.in_flight for s in connector.queue_stats(queue)) >= 1

        def settled() -> bool:
            runs.collect(connector, queue)
            busy = sum(s.ready + s.delayed + s.in_flight for s in connector.queue_stats(queue))
            dead = connector.queue_length(dead_queue_name(queue), include_delayed=True)
            return (len(runs.by_id()) == TASKS and busy == 0) or dead > 0

        with supervised(config, queue, log, concurrency=2, options=options, extra_env=env):
            wait_for(running, 60, "a task to start")
            offset_file.write_text(str(step_hours * 3600))
            # A system step moves this process's clock too (it pushes and reads the
            # ready times, which are wall-clock dates on purpose).
            real_time = time.time
            monkeypatch.setattr(time, "time", lambda: real_time() + step_hours * 3600)
            wait_for(settled, 120, "every task to run and none to be in flight")
        runs.collect(connector, queue)
        dead = connector.queue_length(dead_queue_name(queue), include_delayed=True)
    text = log.read_text()
    # The supervisor's summary line counts them: "... timed out N ...".
    timed_out = sum(int(n) for n in re.findall(r"timed out (\d+)", text))
    timed_out += text.count("WorkerTimedout")
    deliveries = sorted({int(r["deliveries"]) for r in runs.records})
    verdict = (
        len(runs.by_id()) == TASKS
        and runs.duplicates() == 0
        and deliveries == [1]
        and dead == 0
        and timed_out == 0
    )
    record(
        Outcome(
            scenario=f"12. wall-clock step {step_hours:+d} h",
            backend=backend,
            load=f"{TASKS} tasks of {TASK_SECONDS:.0f} s, timeout 20 s, lease 2 s; "
            "2 worker processes",
            faults=f"the workers' wall clock stepped {step_hours:+d} h while a task ran",
            lost=TASKS - len(runs.by_id()),
            duplicates=runs.duplicates(),
            verdict="pass" if verdict else "fail",
            details=f"Deliveries seen: {deliveries}; timeouts logged: {timed_out}; "
            f"dead letters: {dead}.",
        )
    )
    assert verdict, (runs.records, dead, text[-2000:])
