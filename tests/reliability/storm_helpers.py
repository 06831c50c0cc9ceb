"""The worker kill storm (scenario 1): run it, count what happened.

:func:`run_storm` pushes the tasks, starts ``sergeant worker
storm_workers:StormRecorder --concurrency N`` (the supervisor), SIGKILLs one of
its worker processes, picked at random, every ``kill_every`` seconds until the
queue is drained (every task recorded, nothing ready, delayed or in flight),
then stops the supervisor with SIGTERM and counts the records the tasks left on
``<queue>:ran`` (see :mod:`storm_workers` for why they survive the kills).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import sergeant
from sergeant.broker import Broker
from sergeant.config import Connector as ConnectorConfig
from sergeant.errors import TaskDecodeError
from sergeant.task import Task
from sergeant.testing import wait_until
from storm_workers import CONNECTOR_ENV, OPTIONS_ENV, QUEUE_ENV, ran_queue

HERE = Path(__file__).parent

__all__ = ["StormResult", "run_storm"]


@dataclass
class StormResult:
    """What a storm did and what it left."""

    tasks: int
    kills: int = 0
    drain_seconds: float = 0.0
    drained: bool = False
    runs: Counter[int] = field(default_factory=Counter, repr=False)
    unknown_ids: list[Any] = field(default_factory=list)
    max_deliveries_seen: int = 0
    left_queued: int = 0
    left_in_flight: int = 0
    dead: int = 0
    #: ids still in storage (queued, or in flight until their lease ran out) after the stop.
    still_queued: set[int] = field(default_factory=set, repr=False)
    dead_ids: set[int] = field(default_factory=set, repr=False)
    processes_started: int = 0
    alive_samples: list[int] = field(default_factory=list, repr=False)
    supervisor_exit: int | None = None
    supervisor_log: str = field(default="", repr=False)
    #: Seconds from the supervisor's start to the first task run (a worker's start-up).
    startup_seconds: float = 0.0
    #: The kill interval used: the one asked for, or the start-up time if longer.
    kill_every: float = 0.0

    @property
    def mean_alive(self) -> float:
        """Worker processes alive on average during the storm (sampled about 10 times a second)."""
        return sum(self.alive_samples) / len(self.alive_samples) if self.alive_samples else 0.0

    @property
    def share_with_none_alive(self) -> float:
        """Share of the samples that found no worker process alive."""
        if not self.alive_samples:
            return 0.0
        return self.alive_samples.count(0) / len(self.alive_samples)

    @property
    def distinct(self) -> int:
        """Tasks whose effect was recorded at least once."""
        return len(self.runs)

    @property
    def lost(self) -> int:
        """Tasks gone for good: never recorded, and neither queued nor dead-lettered."""
        return len(set(range(self.tasks)) - set(self.runs) - self.still_queued - self.dead_ids)

    @property
    def not_run(self) -> int:
        """Tasks never recorded but still in storage (a storm that did not drain in time)."""
        return self.tasks - self.distinct - self.lost

    @property
    def duplicates(self) -> int:
        """Runs beyond the first of each task (the price of at-least-once under kills)."""
        return sum(self.runs.values()) - self.distinct


def _children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (zombies not yet reaped by the supervisor excluded)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            pids = [int(p) for p in listing.read().split()]
    except OSError:
        return []
    return [child for child in pids if _state(child) not in ("Z", "X", "")]


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def _remaining(connector: sergeant.Connector, queue: str) -> tuple[int, int]:
    """(ready + delayed, in flight) over every node."""
    stats = connector.queue_stats(queue)
    return sum(s.ready + s.delayed for s in stats), sum(s.in_flight for s in stats)


class _Records:
    """Pops the run records as they arrive and tallies them."""

    def __init__(self, connector: sergeant.Connector, queue: str, result: StormResult) -> None:
        self.connector = connector
        self.queue = ran_queue(queue)
        self.result = result

    def collect(self, everything: bool = False) -> int:
        """Tally one batch of records (``everything``: until none is left); how many."""
        total = 0
        while batch := self.connector.queue_pop_bulk(self.queue, 2000):
            total += len(batch)
            for raw in batch:
                record = msgpack.unpackb(raw)
                task_id = record["id"]
                if isinstance(task_id, int) and 0 <= task_id < self.result.tasks:
                    self.result.runs[task_id] += 1
                else:
                    self.result.unknown_ids.append(task_id)
                self.result.max_deliveries_seen = max(
                    self.result.max_deliveries_seen, int(record["deliveries"])
                )
            if not everything:
                break
        return total


def run_storm(
    config: ConnectorConfig,
    queue: str,
    tasks: int,
    log_path: Path,
    *,
    concurrency: int = 4,
    kill_every: float = 0.5,
    lease_seconds: float = 2.0,
    max_deliveries: int = 100,
    tasks_per_transaction: int = 10,
    timeout: float = 240.0,
    push_chunk: int = 5000,
    seed: int = 1,
) -> StormResult:
    """Run the storm; ``timeout`` bounds the whole drain (the result says if it drained)."""
    rng = random.Random(seed)
    result = StormResult(tasks=tasks)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env[CONNECTOR_ENV] = json.dumps({"type": config.type, "params": dict(config.params)})
    env[QUEUE_ENV] = queue
    env[OPTIONS_ENV] = json.dumps(
        {
            "lease_seconds": lease_seconds,
            "max_deliveries": max_deliveries,
            "tasks_per_transaction": tasks_per_transaction,
        }
    )
    with sergeant.connect(config) as connector:
        broker = Broker(connector)
        for first in range(0, tasks, push_chunk):
            ids = range(first, min(first + push_chunk, tasks))
            broker.push_tasks(queue, [Task(kwargs={"id": i}) for i in ids])
        records = _Records(connector, queue, result)
        with log_path.open("w") as log:
            supervisor = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sergeant",
                    "worker",
                    "storm_workers:StormRecorder",
                    "--concurrency",
                    str(concurrency),
                    "--no-progress",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=HERE,
            )
            started = time.monotonic()
            try:
                _storm(connector, queue, supervisor, records, rng, kill_every, timeout, started)
            finally:
                supervisor.send_signal(signal.SIGTERM)
                try:
                    result.supervisor_exit = supervisor.wait(60)
                except subprocess.TimeoutExpired:
                    supervisor.kill()
                    supervisor.wait()
        records.collect(everything=True)
        result.left_queued, result.left_in_flight = _remaining(connector, queue)
        _leftovers(broker, queue, result, lease_seconds)
    result.supervisor_log = log_path.read_text(errors="replace")
    result.processes_started = result.supervisor_log.count("started worker process")
    return result


def _leftovers(broker: Broker, queue: str, result: StormResult, lease_seconds: float) -> None:
    """Take what the storm left: the ids still queued (once leases ran out) and dead-lettered."""
    if result.left_in_flight:
        wait_until(
            lambda: _remaining(broker.connector, queue)[1] == 0,
            timeout=lease_seconds + 30,
            message="the killed workers' leases to run out",
        )
    while tasks := broker.pop_tasks(queue, 1000):
        result.still_queued.update(int(task.kwargs["id"]) for task in tasks)
    letters = broker.dead_letters(queue, limit=result.tasks + 1000)
    result.dead = len(letters)
    for letter in letters:
        try:
            result.dead_ids.add(int(broker.encoder.decode_task(letter.payload).kwargs["id"]))
        except (TaskDecodeError, KeyError, TypeError, ValueError):
            result.unknown_ids.append(letter.payload[:50])


def _storm(
    connector: sergeant.Connector,
    queue: str,
    supervisor: subprocess.Popen[bytes],
    records: _Records,
    rng: random.Random,
    kill_every: float,
    timeout: float,
    started: float,
) -> None:
    """Kill a random worker every ``kill_every`` s (at least the measured start-up time
    of a worker) for ``timeout`` s after the first task ran; then stop killing and
    let the queue drain, for as long again plus ten start-ups.

    The bounds follow the machine: on a busy one a worker takes seconds to start,
    and kills faster than that would only measure how slowly Python starts."""
    result = records.result
    next_kill = next_check = started
    storm_ends = drain_ends = started + timeout
    first_run_at: float | None = None
    while (now := time.monotonic()) < drain_ends and supervisor.poll() is None:
        if first_run_at is not None and now >= next_kill and now < storm_ends:
            workers = _children(supervisor.pid)
            if workers:
                victim = rng.choice(workers)
                try:
                    os.kill(victim, signal.SIGKILL)
                    result.kills += 1
                except ProcessLookupError:
                    pass
            next_kill += result.kill_every
        if now >= next_check:
            alive = len(_children(supervisor.pid))
            if alive or result.alive_samples:  # from the first worker on
                result.alive_samples.append(alive)
            records.collect()
            if first_run_at is None and result.distinct:
                first_run_at = now
                result.startup_seconds = now - started
                result.kill_every = max(kill_every, result.startup_seconds)
                next_kill = now + kill_every  # the first kill soon, the next ones spaced
                storm_ends = now + timeout
                drain_ends = storm_ends + timeout + 10 * result.startup_seconds
            if result.distinct == result.tasks and _remaining(connector, queue) == (0, 0):
                result.drained = True
                result.drain_seconds = time.monotonic() - started
                return
            next_check = now + 0.1
        wake = next_check if first_run_at is None else min(next_kill, next_check)
        time.sleep(max(0.0, wake - time.monotonic()))
