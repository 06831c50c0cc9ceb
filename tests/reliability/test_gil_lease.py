"""Scenario 9: a task that holds the GIL longer than its lease.

The task runs ``sum(range(n))``: C code that never releases the GIL, so the
worker process's own lease-renewal thread cannot run while it does. ``n`` is
calibrated here to hold the GIL for about 2.5 leases. Two worker processes run
under the supervisor, so the other one would take the task the moment its lease
ran out. Before the fix it did: 5 to 6 runs, deliveries 1 to 6, and with
``max_deliveries=3`` a dead letter saying "its workers kept dying" though no
worker died. The supervisor now extends the leases its children report running
when a child's own renewals go stale.

Verdict: the task runs exactly once, on its first delivery, and is not
dead-lettered; the short tasks queued behind it run once each.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import sergeant
from reliability_report import Outcome, record
from scenario_support import Runs, connector_config, supervised, wait_for
from sergeant.broker import Broker, dead_queue_name
from sergeant.task import Task

LEASE_SECONDS = 2.0
HOLD_LEASES = 2.5
SHORT_TASKS = 10


def _loops_for(seconds: float) -> int:
    """How many ``sum(range(...))`` steps take ``seconds`` on this machine now."""
    probe = 2_000_000
    started = time.perf_counter()
    sum(range(probe))
    took = max(time.perf_counter() - started, 1e-6)
    return int(probe * seconds / took)


@pytest.mark.parametrize("backend", ["local", "redis"])
def test_gil_bound_task_runs_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    config = connector_config(backend, tmp_path, request)
    queue = f"gil-{uuid.uuid4().hex[:8]}"
    loops = _loops_for(LEASE_SECONDS * HOLD_LEASES)
    runs = Runs()
    options = {"tasks_per_transaction": 1, "lease_seconds": LEASE_SECONDS, "max_deliveries": 3}
    with sergeant.connect(config) as connector:
        broker = Broker(connector)
        broker.push_task(queue, Task(kwargs={"id": 0, "gil_loops": loops}))
        broker.push_tasks(queue, [Task(kwargs={"id": i}) for i in range(1, SHORT_TASKS + 1)])

        def settled() -> bool:
            # Every task ran and none is queued or in flight: a second run of the long
            # task (taken by the other process once its lease ran out) would be in
            # flight until it finished, so it is recorded by now if it happened.
            runs.collect(connector, queue)
            busy = sum(s.ready + s.delayed + s.in_flight for s in connector.queue_stats(queue))
            return len(runs.by_id()) == SHORT_TASKS + 1 and busy == 0

        with supervised(config, queue, tmp_path / "workers.log", concurrency=2, options=options):
            wait_for(settled, 180, "every task to run and none to be in flight")
            runs.collect(connector, queue)
        dead = connector.queue_length(dead_queue_name(queue), include_delayed=True)
    long_runs = [r for r in runs.records if r["id"] == 0]
    held = long_runs[0]["ended"] - long_runs[0]["started"] if long_runs else 0.0
    verdict = (
        len(long_runs) == 1
        and long_runs[0]["deliveries"] == 1
        and dead == 0
        and runs.duplicates() == 0
        and held > LEASE_SECONDS
    )
    record(
        Outcome(
            scenario="9. GIL-bound task vs its lease",
            backend=backend,
            load=f"1 task holding the GIL {held:.1f} s (sum(range({loops:,}))) with a "
            f"{LEASE_SECONDS:.0f} s lease, {SHORT_TASKS} short tasks; 2 worker processes",
            faults="the worker's own lease renewal starved by the GIL",
            lost=SHORT_TASKS + 1 - len(runs.by_id()),
            duplicates=runs.duplicates(),
            verdict="pass" if verdict else "fail",
            details=f"The long task ran {len(long_runs)} time(s), deliveries "
            f"{[r['deliveries'] for r in long_runs]}; dead letters: {dead}.",
            figures={"gil_seconds": round(held, 2), "runs": len(long_runs)},
        )
    )
    assert held > LEASE_SECONDS, f"the task held the GIL only {held:.1f} s: calibrate longer"
    assert verdict, long_runs
