"""Scenario 11: a Redis node dies and restarts under a prefetching worker.

Two Redis nodes (AOF, fsync always) hold 3,000 short tasks; one worker process
runs ``work_loop()`` on its own, unsupervised, one task per transaction with
prefetching on (calls sent ahead while it works, several at once). Once 500
tasks ran, one node is SIGKILLed; three seconds later it starts again on the
same port. Before the fix a call pending on the
dead node failed inside redis-py (``AttributeError: 'NoneType' object has no
attribute 'readline'``, then a ``TypeError``), the executor failed and the
unsupervised loop stopped consuming. Every failure of a pending call is now a
SergeantError; the worker goes on with the other node and takes the restarted
one back.

Verdict: every task runs (lost 0), the worker process is still consuming at the
end, nothing is left queued or in flight. Runs beyond the first are counted:
at-least-once may run again the tasks whose acks were pending on the dead node.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import sergeant
from reliability_report import Outcome, record
from scenario_support import HERE, Runs, wait_for
from scenario_workers import CONNECTOR_ENV, OPTIONS_ENV, QUEUE_ENV, SINK_ENV
from sergeant.broker import Broker
from sergeant.config import Connector as ConnectorConfig
from sergeant.task import Task
from sergeant_test_support.redis_fixtures import RedisServer

TASKS = 3000
KILL_AFTER = 500
DOWN_SECONDS = 3.0


def test_node_restart_under_a_prefetching_worker(
    redis_server_factory: Callable[..., RedisServer], redis_server: RedisServer, tmp_path: Path
) -> None:
    nodes = [redis_server_factory(appendonly=True), redis_server_factory(appendonly=True)]
    config = ConnectorConfig(type="redis", params={"nodes": [n.node() for n in nodes]})
    sink = ConnectorConfig(type="redis", params={"nodes": [redis_server.node()]})
    queue = f"restart-{uuid.uuid4().hex[:8]}"
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
        broker = Broker(connector)
        for first in range(0, TASKS, 50):  # a bulk push lands on one node: many spread them
            broker.push_tasks(queue, [Task(kwargs={"id": i}) for i in range(first, first + 50)])
        on_node = [stats.ready for stats in connector.queue_stats(queue)]
        assert len(on_node) == 2, on_node
        assert min(on_node) > 0, on_node
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
            nodes[1].kill()
            killed_at = len(runs.by_id())
            down_started = time.monotonic()
            wait_for(lambda: time.monotonic() - down_started > DOWN_SECONDS, 10, "")
            during = len(runs.by_id()) if ran(0)() else 0
            nodes[1].restart()
            wait_for(ran(TASKS), 180, "every task to run")

            def drained() -> bool:
                busy = sum(s.ready + s.delayed + s.in_flight for s in connector.queue_stats(queue))
                return busy == 0

            wait_for(drained, 60, "nothing left queued or in flight")
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
    lost = TASKS - len(runs.by_id())
    verdict = lost == 0 and alive
    record(
        Outcome(
            scenario="11. redis node restart under a prefetching worker",
            backend="redis (2 nodes, AOF always)",
            load=f"{TASKS:,} tasks, 1 unsupervised worker process (work_loop), prefetching on, "
            "1 per transaction",
            faults=f"SIGKILL of one node after {KILL_AFTER} tasks, "
            f"restarted {DOWN_SECONDS:.0f} s later",
            lost=lost,
            duplicates=runs.duplicates(),
            verdict="pass" if verdict else "fail",
            details=f"Tasks per node at the start: {on_node}; run when the node died: "
            f"{killed_at:,}; while it was down the worker "
            f"went on with the other node ({during - killed_at:,} more); the worker was still "
            f"consuming at the end: {alive}; runs beyond the first: {runs.duplicates()} (acks "
            "that were pending on the dead node).",
            figures={"ran_while_down": during - killed_at},
        )
    )
    assert verdict, output[-2000:]
