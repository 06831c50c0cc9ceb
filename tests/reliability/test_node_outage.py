"""Scenario 2, node outage: three redis nodes, one SIGKILLed and restarted, another paused.

A producer process pushes tasks at a steady rate (one alone, then a bulk) while
three worker processes run them at least once. Mid-run one node is SIGKILLed
(append-only file, ``appendfsync always``) and restarted on the same port and
directory; later another is SIGSTOPped for several socket timeouts and resumed.
Each fault lasts while the producer pushes a set number of tasks, so every
phase carries load. Verdict: no exception reaches the producer or the workers
(at least one node lives throughout), every pushed task is run (duplicates
allowed and counted), the queue ends empty; the tasks pushed and run per second
in each phase are recorded.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sergeant
from outage_run import Fleet, Timeline, throughput
from reliability_report import Outcome, record
from sergeant.config import Connector
from sergeant.encoder import TaskEncoder
from sergeant.testing import wait_until
from sergeant_test_support.redis_fixtures import RedisServer

#: Short, so a paused node costs half a second per call that meets it.
SOCKET_TIMEOUT = 0.5
NODES = 3
WORKERS = 3


@dataclass(frozen=True)
class Plan:
    """The load and the faults: tasks pushed per phase at ``rate`` tasks per second."""

    rate: int
    bulk: int
    cycles: int
    calm_tasks: int
    kill_tasks: int
    pause_tasks: int
    #: tasks pushed straight onto a node just before it is killed or paused
    backlog: int
    lease_seconds: float = 2.0
    batch: int = 10


CI = Plan(
    rate=400, bulk=20, cycles=1, calm_tasks=1200, kill_tasks=1600, pause_tasks=1000, backlog=2000
)
SOAK = Plan(
    rate=800, bulk=50, cycles=3, calm_tasks=8000, kill_tasks=12000, pause_tasks=6000, backlog=10000
)
#: Ids of backlog tasks start here (the producer's count up from 0).
BACKLOG_IDS = 10**9


def _backlog(server: RedisServer, queue: str, first: int, count: int, fleet: Fleet) -> range:
    """Push ``count`` tasks onto ``server`` alone (a one-node connector on the same
    keys), so the fault that follows strands them there; returns their ids."""
    ids = range(first, first + count)
    with sergeant.connect(Connector(type="redis", params={"nodes": [server.node()]})) as one:
        sergeant.Broker(one).push_tasks(queue, [sergeant.Task(kwargs={"id": i}) for i in ids])
    fleet.add_pushed(ids, time.time())
    return ids


def _empty(connector: sergeant.Connector, queue: str) -> bool:
    """Nothing ready, delayed or in flight on any node (every node answering)."""
    stats = connector.queue_stats(queue)
    return len(stats) == NODES and all(s.ready + s.delayed + s.in_flight == 0 for s in stats)


def _sweep(connector: sergeant.Connector, queue: str) -> list[int]:
    """Take whatever is still stored (expired leases included) and return its ids."""
    encoder, ids = TaskEncoder(), []
    while deliveries := connector.queue_reserve(queue, 1000, 30):
        ids += [encoder.decode_task(d.item).kwargs["id"] for d in deliveries]
        connector.queue_ack(queue, [d.receipt for d in deliveries])
    return ids


def _by_phase(figures: dict[str, dict[str, float]], key: str, form: str = ",.0f") -> str:
    """``before 400, killed 398, ...`` (the drain has its own sentence)."""
    return ", ".join(f"{n} {row[key]:{form}}" for n, row in figures.items() if n != "drain")


def test_node_outage(
    redis_server_factory: Callable[..., RedisServer], tmp_path: Path, soak: bool
) -> None:
    plan = SOAK if soak else CI
    servers = [redis_server_factory(appendonly=True) for _ in range(NODES)]
    params = {
        "nodes": [
            s.node(socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT)
            for s in servers
        ]
    }
    queue = f"outage-{uuid.uuid4().hex[:8]}"
    fleet = Fleet(
        tmp_path,
        {"type": "redis", "params": params},
        queue,
        rate=plan.rate,
        bulk=plan.bulk,
        batch=plan.batch,
        lease_seconds=plan.lease_seconds,
    )
    timeline = Timeline()
    budget = 60 + 3 * (plan.kill_tasks + plan.calm_tasks) / plan.rate  # a generous bound
    drained, codes, leftover = False, {}, []
    backlogs: list[tuple[range, float]] = []  # ids on a killed node, when it was back
    faults: list[str] = []
    observer = sergeant.connect(Connector(type="redis", params=params))
    try:
        fleet.start_workers(WORKERS)
        fleet.start_producer()
        timeline.enter("before")
        fleet.wait_pushed(plan.calm_tasks, budget)
        for cycle in range(plan.cycles):
            killed, paused = servers[cycle % NODES], servers[(cycle + 1) % NODES]
            stranded = _backlog(killed, queue, BACKLOG_IDS + cycle * 10**6, plan.backlog, fleet)
            timeline.enter("killed")
            killed.kill()
            fleet.wait_pushed(plan.kill_tasks, budget)
            killed.restart()  # same port and directory: the AOF is replayed
            timeline.enter("restarted")
            backlogs.append((stranded, timeline.phases[-1].start))
            faults.append(f"SIGKILL {timeline.phases[-2].seconds:.1f} s")
            fleet.wait_pushed(plan.calm_tasks, budget)
            _backlog(paused, queue, BACKLOG_IDS + cycle * 10**6 + 5 * 10**5, plan.backlog, fleet)
            timeline.enter("paused")
            paused.pause()
            fleet.wait_pushed(plan.pause_tasks, budget)
            paused.resume()
            timeline.enter("after")
            faults.append(f"SIGSTOP {timeline.phases[-2].seconds:.1f} s")
            fleet.wait_pushed(plan.calm_tasks, budget)
        fleet.stop_producer()
        timeline.enter("drain")

        def all_run() -> bool:
            fleet.poll()
            ran = {task_id for _, task_id, _ in fleet.runs}
            return ran >= fleet.pushed.keys() and _empty(observer, queue)

        try:
            fleet.wait_pushed(0, 1)  # pick up the producer's last lines
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
    lost = len(pushed.keys() - runs.keys())
    phantom = len(runs.keys() - pushed.keys())
    duplicates = sum(runs.values()) - len(runs)
    first_run: dict[int, float] = {}
    for when, task_id, _ in fleet.runs:
        first_run[task_id] = min(when, first_run.get(task_id, when))
    after_restart = sum(
        1 for ids, back in backlogs for i in ids if first_run.get(i, float("inf")) >= back
    )
    longest_wait = max((first_run[i] - pushed[i] for i in pushed if i in first_run), default=0.0)
    figures = throughput(timeline.phases, fleet)
    paused_for = min(p.seconds for p in timeline.phases if p.name == "paused")
    clean_exits = all(code == 0 for code in codes.values()) and len(codes) == WORKERS
    ok = (
        lost == 0
        and phantom == 0
        and drained
        and not fleet.push_errors
        and not fleet.worker_errors
        and clean_exits
        and paused_for > SOCKET_TIMEOUT
    )
    drain = figures.get("drain", {}).get("seconds", 0.0)
    record(
        Outcome(
            scenario="2. node outage",
            backend=f"redis ({NODES} nodes, AOF always)",
            load=f"{len(pushed):,} tasks: ~{plan.rate}/s from a producer process (single and "
            f"bulk-of-{plan.bulk} pushes) plus a backlog of {plan.backlog:,} pushed onto each "
            f"node before its fault; {WORKERS} worker processes",
            faults="; ".join(faults) + f" (socket_timeout {SOCKET_TIMEOUT} s)",
            lost=lost,
            duplicates=duplicates,
            verdict="pass" if ok else "fail",
            details=(
                f"Tasks run per second by phase: {_by_phase(figures, 'run_per_s')}; pushed per "
                f"second: {_by_phase(figures, 'pushed_per_s')}; slowest push call (s): "
                f"{_by_phase(figures, 'slowest_push_s', '.2f')}. Drained {drain:.1f} s after the "
                f"producer stopped; longest wait from push to first run {longest_wait:.1f} s. "
                f"Exceptions reaching the producer: {len(fleet.push_errors)}, the workers: "
                f"{len(fleet.worker_errors)}. Left in storage once the workers stopped: "
                f"{len(leftover)}. Of the {plan.backlog * len(backlogs):,} tasks pushed onto "
                f"the node just before its SIGKILL, {after_restart:,} were still there and ran "
                f"after its restart. Connector warnings: "
                f"{dict(fleet.warnings) or 'none'}."
            ),
            figures={
                "pushed": len(pushed),
                "runs": sum(runs.values()),
                "phantom": phantom,
                "leftover": len(leftover),
                "ran_after_restart": after_restart,
                "longest_wait_s": round(longest_wait, 2),
                **{f"{n}_{k}": v for n, row in figures.items() for k, v in row.items()},
            },
        )
    )
    assert not fleet.push_errors, f"exceptions reached the producer: {fleet.push_errors[:5]}"
    assert not fleet.worker_errors, f"exceptions reached the workers: {fleet.worker_errors[:5]}"
    assert drained, f"{lost} pushed tasks never ran (or the queue kept items)"
    assert lost == 0
    assert phantom == 0, f"{phantom} tasks ran that were never pushed"
    assert clean_exits, f"worker exit codes {codes}: {fleet.stderr_tail('worker-0')}"
    assert paused_for > SOCKET_TIMEOUT
