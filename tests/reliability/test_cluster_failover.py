"""Scenario 16: a Redis Cluster primary is SIGKILLed under a worker and a producer.

A 3-primary cluster (a replica each, ``cluster-node-timeout`` 2 s, no AOF)
takes tasks from a producer thread in this process (``push_tasks``, 10 tasks
per call, paced) while one unsupervised worker process runs
``work_loop()`` (one task per transaction, prefetching on; each run recorded on
a separate plain redis-server). Once 500 tasks ran, the primary serving shard 0
is SIGKILLed by PID; its replica takes over. The producer goes on until it
has pushed 1,000 tasks after the cluster is whole again.

Verdict: the worker process is still consuming at the end, no exception reached
the producer, every task pushed once the cluster was whole again ran, and
nothing is left queued or in flight. Replication is asynchronous: without
``min_replicas``, tasks the dead primary acknowledged but had not yet passed to
its replica are gone; how many is counted (``lost``), not asserted. With
``min_replicas=1`` (two replicas a primary, so the promoted one still has one)
nothing acknowledged may be lost, and the producer may see sergeant's own
errors only during the failover window (a push the primary could not get onto
a replica in time), retrying the same tasks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import sergeant
from reliability_report import Outcome, record
from scenario_support import HERE, Runs, wait_for
from scenario_workers import CONNECTOR_ENV, OPTIONS_ENV, QUEUE_ENV, SINK_ENV
from sergeant.broker import Broker
from sergeant.config import Connector as ConnectorConfig
from sergeant.errors import SergeantError
from sergeant.task import Task
from sergeant_test_support.cluster_fixtures import RedisCluster
from sergeant_test_support.redis_fixtures import RedisServer

KILL_AFTER = 500
#: Tasks pushed once the cluster is whole again before the producer stops.
AFTER = 1000
PER_PUSH = 10
PACE = 0.005


class Producer:
    """Pushes tasks ``0, 1, ...``, ``PER_PUSH`` per call, until stopped (a call
    every ``PACE`` seconds at most); notes when each call returned."""

    def __init__(self, broker: Broker, queue: str) -> None:
        self.pushed: list[tuple[float, int]] = []
        self.errors: list[tuple[float, BaseException]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(broker, queue), daemon=True)
        self.thread.start()

    def _run(self, broker: Broker, queue: str) -> None:
        first = 0
        while not self.stop.is_set():
            ids = range(first, first + PER_PUSH)
            try:
                broker.push_tasks(queue, [Task(kwargs={"id": i}) for i in ids])
            except Exception as exc:  # counted: the verdict says which are allowed
                self.errors.append((time.monotonic(), exc))
            else:
                now = time.monotonic()
                self.pushed += [(now, i) for i in ids]
                first += PER_PUSH
            self.stop.wait(PACE)

    def since(self, moment: float) -> set[int]:
        return {i for when, i in list(self.pushed) if when >= moment}


@pytest.mark.parametrize("min_replicas", [0, 1])
def test_cluster_primary_failover_under_a_worker(
    redis_cluster_factory: Callable[..., RedisCluster],
    redis_server: RedisServer,
    tmp_path: Path,
    min_replicas: int,
) -> None:
    cluster = redis_cluster_factory(node_timeout_ms=2000, replicas=1 + min_replicas)
    waiting = {"min_replicas": min_replicas, "min_replicas_timeout": 2.0} if min_replicas else {}
    config = ConnectorConfig(type="redis", params=cluster.params(**waiting))
    sink = ConnectorConfig(type="redis", params={"nodes": [redis_server.node()]})
    queue = f"failover-{uuid.uuid4().hex[:8]}"
    runs = Runs()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        CONNECTOR_ENV: json.dumps({"type": "redis", "params": dict(config.params)}),
        SINK_ENV: json.dumps({"type": "redis", "params": dict(sink.params)}),
        QUEUE_ENV: queue,
        OPTIONS_ENV: json.dumps(
            {"tasks_per_transaction": 1, "lease_seconds": 5.0, "max_deliveries": 50}
        ),
    }
    with sergeant.connect(config) as connector, sergeant.connect(sink) as records:
        producer = Producer(Broker(connector), queue)
        log = (tmp_path / "worker.log").open("w")
        worker = subprocess.Popen(
            [sys.executable, str(HERE / "scenario_workers.py")],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:

            def ran(count: int) -> Callable[[], bool]:
                def probe() -> bool:
                    runs.collect(records, queue)
                    return len(runs.by_id()) >= count

                return probe

            wait_for(ran(KILL_AFTER), 120, f"{KILL_AFTER} tasks to run")
            label = connector.queue_stats(queue)[0].node  # 'shard 0 @ host:port'
            victim = cluster.server_at(label.rpartition(" @ ")[2])
            killed_at = time.monotonic()
            ran_at_kill = len(runs.by_id())
            cluster.kill(victim)
            cluster.wait_ok(primaries=3)
            whole_at = time.monotonic()
            wait_for(lambda: len(producer.since(whole_at)) >= AFTER, 120, "pushes after it")
            producer.stop.set()
            producer.thread.join(120)

            def drained() -> bool:
                runs.collect(records, queue)
                stats = connector.queue_stats(queue)
                return (
                    len(stats) == 3 and sum(s.ready + s.delayed + s.in_flight for s in stats) == 0
                )

            emptied = False
            try:
                wait_for(drained, 120, "the queue to drain")
                emptied = True
            except AssertionError:
                pass
            runs.collect(records, queue)
            alive = worker.poll() is None
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
            log.close()
    output = (tmp_path / "worker.log").read_text()
    done = set(runs.by_id())
    pushed = {i for _, i in producer.pushed}
    lost = len(pushed - done)
    after = producer.since(whole_at)
    lost_after = len(after - done)
    if min_replicas:  # sergeant's errors in the window only, and nothing acknowledged lost
        escaped = [e for when, e in producer.errors if not isinstance(e, SergeantError)]
        late = [e for when, e in producer.errors if when > whole_at + 10]  # back-off <= 5 s
        errors_ok = not escaped and not late and lost == 0
    else:
        errors_ok = not producer.errors
    verdict = alive and emptied and errors_ok and lost_after == 0 and pushed
    record(
        Outcome(
            scenario="16. redis cluster primary failover under a worker"
            + (f", min_replicas={min_replicas}" if min_replicas else ""),
            backend=f"redis cluster (3 primaries, {1 + min_replicas} replica(s) each, no AOF)",
            load=f"{len(pushed):,} tasks pushed {PER_PUSH} per call (at most one call per "
            f"{PACE * 1000:.0f} ms) while 1 unsupervised worker process (work_loop, prefetching "
            f"on, 1 per transaction) consumes; the producer stops {AFTER:,} tasks after the "
            "cluster is whole again",
            faults=f"SIGKILL of the primary serving shard 0 after {KILL_AFTER} tasks ran; "
            f"its replica promoted ({whole_at - killed_at:.1f} s to a whole cluster, "
            "cluster-node-timeout 2 s)",
            lost=lost,
            duplicates=runs.duplicates(),
            verdict="pass" if verdict else "fail",
            details=f"Ran when the primary died: {ran_at_kill:,}; pushed {len(pushed):,} "
            f"({len(after):,} after the cluster was whole: {lost_after} of them lost); "
            f"producer errors: {len(producer.errors)}; the worker was still consuming at the "
            f"end: {alive}; queue drained: {emptied}; lost (acknowledged by the dead primary, "
            f"not yet replicated; min_replicas={min_replicas}): {lost}.",
            figures={
                "failover_seconds": round(whole_at - killed_at, 2),
                "lost_after_failover": lost_after,
            },
        )
    )
    assert verdict, (lost, lost_after, alive, emptied, producer.errors[:3], output[-2000:])
