"""Real worker processes under the supervisor: kills, poison tasks, graceful stops."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from typing import Any

import msgpack
import pytest
import sergeant
from conftest import SCALE, Processes
from sergeant.broker import Broker, dead_queue_name
from sergeant.task import Task
from sergeant.testing import wait_until


def push(connector: sergeant.Connector, queue: str, kwargs_list: list[dict[str, Any]]) -> None:
    Broker(connector).push_tasks(queue, [Task(kwargs=k) for k in kwargs_list])


def drain(connector: sergeant.Connector, queue: str) -> list[dict[str, Any]]:
    records = []
    while batch := connector.queue_pop_bulk(queue, 1000):
        records += [msgpack.unpackb(item) for item in batch]
    return records


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            return [int(p) for p in listing.read().split()]
    except OSError:
        return []


def finish(process: subprocess.Popen[str], timeout: float = 60) -> str:
    """SIGTERM the supervisor and return its output once it has exited."""
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=timeout)
    return output


class Ran:
    """The ids recorded on ``<queue>:ran`` so far (kept across polls)."""

    def __init__(self, connector: sergeant.Connector, queue: str) -> None:
        self.connector = connector
        self.queue = f"{queue}:ran"
        self.records: list[dict[str, Any]] = []

    def ids(self) -> set[Any]:
        self.records += drain(self.connector, self.queue)
        return {r["id"] for r in self.records}

    def covers(self, wanted: set[Any]) -> bool:
        return wanted <= self.ids()


def test_killed_workers_lose_nothing_and_the_task_runs_again_elsewhere(
    backend: str, connector: sergeant.Connector, processes: Processes, queue_name: str
) -> None:
    count = max(30, int(2000 * SCALE[backend]))
    broker = Broker(connector)
    broker.push_task(queue_name, Task(kwargs={"id": -1, "announce": True, "sleep_first": 30}))
    push(connector, queue_name, [{"id": i} for i in range(count)])
    supervisor = processes.start(
        "worker",
        "e2e_workers:Recorder",
        "-c",
        "2",
        "--no-progress",
        lease_seconds=1.0,
        tasks_per_transaction=10,
    )
    started = wait_until(
        lambda: connector.queue_pop(f"{queue_name}:started"), timeout=30, message="slow task"
    )
    victim = msgpack.unpackb(started)["pid"]
    os.kill(victim, signal.SIGKILL)
    ran = Ran(connector, queue_name)
    for _ in range(4):  # more kills while the queue drains
        time.sleep(0.4)
        alive = [p for p in children(supervisor.pid) if p != victim]
        if alive:
            os.kill(random.choice(alive), signal.SIGKILL)
    wanted = set(range(-1, count))
    wait_until(lambda: ran.covers(wanted), timeout=90, message="every task to run")
    # A killed worker's tasks that ran but were never acked come back once their
    # lease runs out and run again: only then is the queue empty.
    wait_until(
        lambda: (
            broker.number_of_enqueued_tasks(queue_name, include_delayed=True) == 0
            and sum(n.in_flight for n in connector.queue_stats(queue_name)) == 0
        ),
        timeout=60,
        message="the queue to drain, the killed workers' unacked tasks run again",
    )
    output = finish(supervisor)
    assert output.count("killed by SIGKILL") >= 2
    assert supervisor.returncode == 0, output
    (slow,) = [r for r in ran.records if r["id"] == -1]
    assert slow["deliveries"] >= 2
    assert slow["pid"] != victim
    assert broker.number_of_enqueued_tasks(queue_name, include_delayed=True) == 0
    assert sum(n.in_flight for n in connector.queue_stats(queue_name)) == 0


def test_poison_and_garbage_end_in_the_dead_letter_queue(
    backend: str, connector: sergeant.Connector, processes: Processes, queue_name: str
) -> None:
    count = max(10, int(200 * SCALE[backend]))
    connector.queue_push(queue_name, b"\x00 not a task \xff")
    push(connector, queue_name, [{"id": "poison", "poison": True}])
    push(connector, queue_name, [{"id": i} for i in range(count)])
    supervisor = processes.start(
        "worker",
        "e2e_workers:Recorder",
        "-c",
        "2",
        "--no-progress",
        lease_seconds=0.5,
        max_deliveries=2,
    )
    ran = Ran(connector, queue_name)
    dead = dead_queue_name(queue_name)
    wait_until(
        lambda: connector.queue_length(dead) == 2 and ran.covers(set(range(count))),
        timeout=90,
        message="the poison and the garbage to be dead-lettered",
    )
    output = finish(supervisor)
    assert supervisor.returncode == 0, output
    letters = Broker(connector).dead_letters(queue_name)
    reasons = sorted(letter.reason for letter in letters)
    assert "cannot decode" in reasons[0]
    assert "handed out 3 times (max_deliveries=2)" in reasons[1]
    assert "poison" not in ran.ids()
    assert output.count("killed by SIGKILL") == 2


def test_sigterm_stops_gracefully_under_load(
    backend: str, connector: sergeant.Connector, processes: Processes, queue_name: str
) -> None:
    count = max(40, int(3000 * SCALE[backend]))
    push(connector, queue_name, [{"id": i, "sleep": 0.002} for i in range(count)])
    supervisor = processes.start(
        "worker", "e2e_workers:Recorder", "-c", "2", "--no-progress", tasks_per_transaction=20
    )
    ran = Ran(connector, queue_name)
    wait_until(lambda: len(ran.ids()) >= count // 10, timeout=60, message="some progress")
    output = finish(supervisor)
    assert supervisor.returncode == 0, output
    records = ran.records + drain(connector, f"{queue_name}:ran")
    ran_ids = [r["id"] for r in records]
    assert len(ran_ids) == len(set(ran_ids)), "a task ran twice without any kill"
    assert sum(n.in_flight for n in connector.queue_stats(queue_name)) == 0
    left = Broker(connector).pop_tasks(queue_name, count)
    left_ids = {t.kwargs["id"] for t in left}
    assert left_ids.isdisjoint(ran_ids), "an acked task is back on the queue"
    assert left_ids | set(ran_ids) == set(range(count)), "a task was lost"
    assert len(left) == len(left_ids)


def test_sergeant_launcher_and_max_tasks_per_run_respawn(
    backend: str, connector: sergeant.Connector, processes: Processes, queue_name: str
) -> None:
    push(connector, queue_name, [{"id": i} for i in range(12)])
    env = processes.env(max_tasks_per_run=5, starve_after=1)
    result = subprocess.run(
        [
            os.sys.executable,
            "-m",
            "sergeant.supervisor",
            "--worker-module=e2e_workers",
            "--worker-class=Recorder",
            "--concurrent-worker=1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=processes_dir(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert Ran(connector, queue_name).ids() == set(range(12))
    assert result.stderr.count("started worker process") >= 3
    assert "asked to stop" in result.stderr


def processes_dir() -> str:
    return os.path.dirname(__file__)


@pytest.mark.parametrize("backend", ["local"], indirect=True)
def test_a_task_that_ignores_its_timeout_gets_its_process_killed(
    connector: sergeant.Connector, processes: Processes, queue_name: str
) -> None:
    push(connector, queue_name, [{"id": 1}])
    supervisor = processes.start(
        "worker",
        "e2e_workers:Stubborn",
        "--no-progress",
        timeout=0.3,
        grace_period=0.5,
        lease_seconds=0.5,
        max_deliveries=1,
    )
    wait_until(
        lambda: connector.queue_length(dead_queue_name(queue_name)) == 1,
        timeout=60,
        message="the stubborn task to be dead-lettered after its process was killed",
    )
    output = finish(supervisor)
    assert "killed because a task ran past timeout + grace_period" in output


@pytest.mark.parametrize("backend", ["local"], indirect=True)
def test_a_worker_module_that_does_not_exist_fails_in_one_line(processes: Processes) -> None:
    result = processes.run("worker", "no_such_module:Worker", timeout=30)
    assert result.returncode == 1
    assert "no module named 'no_such_module'" in result.stderr
    assert "cannot load no_such_module:Worker" in result.stderr
