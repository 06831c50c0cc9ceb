"""Scenario 15, Sentinel failover: the primary SIGKILLed under load, a replica promoted.

A Sentinel deployment (1 primary, 2 replicas, 3 sentinels; down-after 1 s) and
the redis connector's ``sentinel`` params. A producer process pushes at a
steady rate (one task alone, then a bulk) while three worker processes run
them at least once. Mid-run the primary is SIGKILLed (no AOF: what it had
not replicated is gone); the sentinels promote a replica and the same
connector objects carry on against it. Verdict: the producer's failed pushes
are all ConnectorUnavailableError (retried with the same ids, so not a loss)
and it keeps pushing after the window; no exception reaches the workers; the
queue drains; the worker loop logs each fetch the window refused (naming the
service and the sentinels) and goes on. With ``min_replicas=1`` no
acknowledged push is lost; without it the run records how many were (on
loopback replication is fast, so it is usually none:
``plugins/redis/tests/test_sentinel_failover.py`` shows what a lagging replica
loses).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import sergeant
from outage_run import Fleet, Timeline, throughput
from reliability_report import Outcome, record
from sergeant.config import Connector
from sergeant.encoder import TaskEncoder
from sergeant.testing import wait_until
from sergeant_test_support.sentinel_fixtures import SentinelDeployment

WORKERS = 3
RATE, BULK, CALM_TASKS = 400, 20, 1200
#: How a failed push may read: the connector could not reach the primary, or
#: (min_replicas) too few replicas had the push yet.
ALLOWED_PUSH_ERRORS = ("ConnectorUnavailableError(", "NodeUnavailableError(", "ReplicationError(")
#: What the worker loop logs (at ERROR) when a fetch or an ack meets the window;
#: it carries on by itself, nothing reaches the task code.
ALLOWED_WORKER_LOGS = (
    "(sentinel) is unreachable",
    "no redis node answered",
    "replicas min_replicas asks for",
)


def _sweep(connector: sergeant.Connector, queue: str) -> list[int]:
    encoder, ids = TaskEncoder(), []
    while deliveries := connector.queue_reserve(queue, 1000, 30):
        ids += [encoder.decode_task(d.item).kwargs["id"] for d in deliveries]
        connector.queue_ack(queue, [d.receipt for d in deliveries])
    return ids


@pytest.mark.parametrize("min_replicas", [1, 0])
def test_sentinel_failover(
    sentinel_factory: Callable[..., SentinelDeployment], tmp_path: Path, min_replicas: int
) -> None:
    deployment = sentinel_factory(down_after_ms=1000, failover_timeout_ms=3000)
    extra = {"min_replicas": min_replicas, "min_replicas_timeout": 2.0} if min_replicas else {}
    params = deployment.params(**extra)
    queue = f"failover-{uuid.uuid4().hex[:8]}"
    fleet = Fleet(
        tmp_path,
        {"type": "redis", "params": params},
        queue,
        rate=RATE,
        bulk=BULK,
        batch=10,
        lease_seconds=2.0,
    )
    timeline = Timeline()
    budget = 60 + 3 * CALM_TASKS / RATE
    drained, codes, leftover = False, {}, []
    observer = sergeant.connect(Connector(type="redis", params=params))
    try:
        fleet.start_workers(WORKERS)
        fleet.start_producer()
        timeline.enter("before")
        fleet.wait_pushed(CALM_TASKS, budget)
        timeline.enter("failover")
        old = deployment.kill_primary()
        deployment.wait_failover(old)
        timeline.enter("after")
        fleet.wait_pushed(CALM_TASKS, budget)
        fleet.stop_producer()
        timeline.enter("drain")

        def all_run() -> bool:
            fleet.poll()
            ran = {task_id for _, task_id, _ in fleet.runs}
            (stats,) = observer.queue_stats(queue)
            empty = stats.ready + stats.delayed + stats.in_flight == 0
            return ran >= fleet.pushed.keys() or (empty and min_replicas == 0)

        try:
            fleet.wait_pushed(0, 1)
            wait_until(all_run, timeout=60, interval=0.2, message="every pushed task to run")
            drained = True
        except AssertionError:
            drained = False
        timeline.close()
        codes = fleet.stop_workers()
        leftover = _sweep(observer, queue)
    finally:
        fleet.kill_all()
        observer.close()

    runs = Counter(task_id for _, task_id, _ in fleet.runs)
    pushed = fleet.pushed
    lost = len(pushed.keys() - runs.keys() - set(leftover))
    phantom = len(runs.keys() - pushed.keys())
    duplicates = sum(runs.values()) - len(runs)
    figures = throughput(timeline.phases, fleet)
    window = next(p.seconds for p in timeline.phases if p.name == "failover")
    other_errors = [e for e in fleet.push_errors if not any(a in e for a in ALLOWED_PUSH_ERRORS)]
    worker_window_logs = [
        e for e in fleet.worker_errors if any(a in e for a in ALLOWED_WORKER_LOGS)
    ]
    worker_errors = [e for e in fleet.worker_errors if e not in worker_window_logs]
    killed_at = next(p.start for p in timeline.phases if p.name == "failover")
    # Seconds from the kill to the first task run after the new primary was in place.
    promoted_at = killed_at + window
    resumed = min((when for when, _, _ in fleet.runs if when >= promoted_at), default=None)
    resumed_after = None if resumed is None else round(resumed - killed_at, 2)
    clean_exits = all(code == 0 for code in codes.values()) and len(codes) == WORKERS
    ok = (
        (lost == 0 or not min_replicas)
        and phantom == 0
        and drained
        and not other_errors
        and not worker_errors
        and clean_exits
        and resumed_after is not None
    )
    record(
        Outcome(
            scenario="15. sentinel failover",
            backend=f"redis sentinel (1 primary, 2 replicas, 3 sentinels; "
            f"min_replicas={min_replicas})",
            load=f"{len(pushed):,} tasks: ~{RATE}/s from a producer process (single and "
            f"bulk-of-{BULK} pushes); {WORKERS} worker processes",
            faults=f"SIGKILL of the primary (no AOF); sentinels promoted a replica in "
            f"{window:.1f} s (down-after 1 s)",
            lost=lost,
            duplicates=duplicates,
            verdict="pass" if ok else "fail",
            details=(
                f"Pushes refused during the failover (ConnectorUnavailableError, retried "
                f"with the same ids): {len(fleet.push_errors)}; other exceptions reaching "
                f"the producer: {len(other_errors)}, the workers: {len(worker_errors)} "
                f"({len(worker_window_logs)} fetches or acks the window refused, logged by "
                f"the worker loop, which carried on). "
                f"Tasks run per second by phase: "
                + ", ".join(f"{n} {row['run_per_s']:,.0f}" for n, row in figures.items())
                + f". The workers ran tasks again {resumed_after} s after the kill. Left in "
                f"storage once the workers stopped: {len(leftover)}. Connector "
                f"warnings: {dict(fleet.warnings) or 'none'}."
            ),
            figures={
                "pushed": len(pushed),
                "runs": sum(runs.values()),
                "lost": lost,
                "phantom": phantom,
                "push_errors": len(fleet.push_errors),
                "worker_calls_refused": len(worker_window_logs),
                "failover_s": round(window, 2),
                "workers_resumed_s": resumed_after if resumed_after is not None else -1,
                **{f"{n}_{k}": v for n, row in figures.items() for k, v in row.items()},
            },
        )
    )
    print(
        f"sentinel failover, min_replicas={min_replicas}: lost {lost}, window {window:.2f} s, "
        f"push errors {len(fleet.push_errors)}, duplicates {duplicates}, workers resumed "
        f"{resumed_after} s after the kill"
    )
    assert not other_errors, f"unexpected exceptions reached the producer: {other_errors[:5]}"
    assert not worker_errors, f"errors other than the window's: {worker_errors[:5]}"
    assert resumed_after is not None, "the workers ran nothing after the failover"
    assert drained, "pushed tasks never ran (or the queue kept items)"
    assert phantom == 0
    assert clean_exits, f"worker exit codes {codes}: {fleet.stderr_tail('worker-0')}"
    if min_replicas:
        assert lost == 0, f"{lost} acknowledged pushes lost with min_replicas=1"
