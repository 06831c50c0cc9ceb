"""Hostile payloads reach real worker processes under the supervisor, on every backend.

- A poison payload pushed raw (msgpack tuples nested 200 deep, which overflowed
  the decoder's C stack; a task whose ``run_count`` is infinity; a header declaring
  4 billion items) is dead-lettered on its first delivery with the reason, while each of
  the 20 good tasks behind it runs exactly once, in the same worker process.
- A decompression bomb (785 bytes of bzip2 expanding to 1 GiB, or 16 KB of zlib
  expanding to 16 MiB for a worker whose ``max_payload_bytes`` is 1 MiB) sent to
  a worker with that compressor is dead-lettered with the reason, unexpanded,
  and the worker carries on with the good tasks.
- A task that ends its own process (SIGKILL, or ``os._exit``) is, once its batch
  comes back, run alone after its neighbours: it alone reaches ``max_deliveries``
  and the dead-letter queue, and every neighbour runs exactly once.
- A task that calls ``sys.exit(code)`` once done ends its process as Python
  would, whatever the code and on a task thread too (where it used to vanish
  unseen): with 3 or 5 (a worker class not found, a stop, to the supervisor)
  the supervisor used to stop every process. It is done (not run again), a new
  process takes over, and the tasks behind it run once each.
"""

from __future__ import annotations

import logging
import signal
import subprocess
from collections import Counter
from typing import Any

import msgpack
import pytest
import sergeant
from conftest import Processes
from sergeant.broker import Broker, dead_queue_name
from sergeant.encoder import TaskEncoder
from sergeant.executor._isolate import RunningMarks
from sergeant.task import Task
from sergeant.testing import wait_until
from sergeant_test_support.hostile import BZIP2_BOMB, nested_tuples, zeros_bomb

GOOD = 20
MiB = 1024**2
WORKER = "poison_workers:HostileRecorder"

#: Raw payloads and what their dead letter's reason must name.
POISONS = {
    "tuples nested 200 deep": (nested_tuples(200), "tuples nested more than 32 deep"),
    "run_count infinity": (
        msgpack.packb([{}, None, 1.0, float("inf")]),
        "cannot convert float infinity to integer",
    ),
    "array32 declaring 4 billion items": (
        b"\xdd\xff\xff\xff\xff" + b"\xc0" * 10,
        "exceeds max_array_len",
    ),
}


class Ran:
    """The ``<queue>:ran`` records read so far (kept across polls)."""

    def __init__(self, connector: sergeant.Connector, queue: str) -> None:
        self.connector = connector
        self.queue = f"{queue}:ran"
        self.records: list[dict[str, Any]] = []

    def runs(self) -> Counter[Any]:
        while batch := self.connector.queue_pop_bulk(self.queue, 1000):
            self.records += [msgpack.unpackb(item) for item in batch]
        return Counter(record["id"] for record in self.records)

    def pids(self) -> set[int]:
        return {record["pid"] for record in self.records}


def start(processes: Processes, **options: Any) -> subprocess.Popen[str]:
    return processes.start("worker", WORKER, "-c", "1", "--no-progress", **options)


def finish(process: subprocess.Popen[str], timeout: float = 60) -> str:
    """SIGTERM the supervisor and return its output once it has exited."""
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output
    return output


def settled(connector: sergeant.Connector, queue: str, ran: Ran) -> bool:
    """One dead letter, and every good task has run."""
    return connector.queue_length(dead_queue_name(queue)) >= 1 and set(ran.runs()) >= set(
        range(GOOD)
    )


def assert_nothing_left(connector: sergeant.Connector, queue: str) -> None:
    assert connector.queue_length(queue, include_delayed=True) == 0
    assert sum(node.in_flight for node in connector.queue_stats(queue)) == 0


@pytest.mark.parametrize("poison", list(POISONS))
def test_a_poison_payload_is_dead_lettered_on_first_delivery_and_good_tasks_run_once(
    poison: str, connector: sergeant.Connector, processes: Processes, queue_name: str
) -> None:
    payload, cause = POISONS[poison]
    connector.queue_push(queue_name, payload)
    Broker(connector).push_tasks(queue_name, [Task(kwargs={"id": i}) for i in range(GOOD)])
    supervisor = start(processes, tasks_per_transaction=10, lease_seconds=2.0, max_deliveries=3)
    ran = Ran(connector, queue_name)
    wait_until(
        lambda: settled(connector, queue_name, ran),
        timeout=60,
        message="the poison to be dead-lettered and every good task to run",
    )
    output = finish(supervisor)
    (letter,) = Broker(connector).dead_letters(queue_name)
    assert letter.payload == payload
    assert letter.deliveries == 1
    assert letter.reason.startswith("cannot decode the payload: ")
    assert cause in letter.reason
    assert ran.runs() == Counter(range(GOOD)), "a good task ran twice or never"
    assert len(ran.pids()) == 1
    assert output.count("started worker process") == 1, output
    assert_nothing_left(connector, queue_name)


BOMBS = {
    "bzip2 1 GiB, default limit": ("bzip2", BZIP2_BOMB, 64 * MiB),
    "zlib 16 MiB, limit 1 MiB": ("zlib", zeros_bomb("zlib", 16 * MiB), MiB),
}


@pytest.mark.parametrize("bomb", list(BOMBS))
def test_a_decompression_bomb_is_dead_lettered_and_the_worker_carries_on(
    bomb: str, connector: sergeant.Connector, processes: Processes, queue_name: str
) -> None:
    compressor, payload, limit = BOMBS[bomb]
    connector.queue_push(queue_name, payload)
    broker = Broker(connector, TaskEncoder(compressor=compressor))
    broker.push_tasks(queue_name, [Task(kwargs={"id": i}) for i in range(GOOD)])
    supervisor = start(
        processes, tasks_per_transaction=10, compressor=compressor, max_payload_bytes=limit
    )
    ran = Ran(connector, queue_name)
    wait_until(
        lambda: settled(connector, queue_name, ran),
        timeout=60,
        message="the bomb to be dead-lettered and every good task to run",
    )
    output = finish(supervisor)
    (letter,) = broker.dead_letters(queue_name)
    assert letter.payload == payload
    assert letter.deliveries == 1
    assert (
        f"payload of {len(payload)} bytes with compressor {compressor!r} decompresses"
        f" to more than max_payload_bytes={limit} (a decompression bomb?"
    ) in letter.reason
    assert ran.runs() == Counter(range(GOOD))
    assert len(ran.pids()) == 1, "the worker process died"
    assert output.count("started worker process") == 1, output
    assert_nothing_left(connector, queue_name)


@pytest.mark.parametrize("death", ["poison", "exit"], ids=["SIGKILL", "os._exit"])
def test_a_task_that_kills_its_process_is_dead_lettered_alone(
    death: str, connector: sergeant.Connector, processes: Processes, queue_name: str
) -> None:
    broker = Broker(connector)
    killer = Task(kwargs={"id": "killer", death: True})
    broker.push_task(queue_name, killer)  # first: its batch dies before any neighbour runs
    broker.push_tasks(queue_name, [Task(kwargs={"id": i}) for i in range(GOOD)])
    supervisor = start(processes, tasks_per_transaction=10, lease_seconds=1.0, max_deliveries=3)
    ran = Ran(connector, queue_name)
    wait_until(
        lambda: settled(connector, queue_name, ran),
        timeout=90,
        message="the killer to be dead-lettered and every neighbour to run",
    )
    output = finish(supervisor)
    (letter,) = broker.dead_letters(queue_name)
    assert broker.encoder.decode_task(letter.payload).kwargs == killer.kwargs
    assert letter.deliveries == 4
    assert "handed out 4 times (max_deliveries=3)" in letter.reason
    assert ran.runs() == Counter(range(GOOD)), "a neighbour ran twice, or never"
    deaths = output.count("killed by SIGKILL") + output.count("crashed")
    assert deaths == 3, output
    marks = RunningMarks(connector, queue_name, logging.getLogger(__name__))
    assert connector.key_get(marks.key(letter.payload)) is None, "its running mark was left"
    assert_nothing_left(connector, queue_name)


@pytest.mark.parametrize(("code", "threads"), [(3, 1), (5, 3)], ids=["3, one thread", "5, threads"])
def test_a_task_calling_sys_exit_ends_only_its_process(
    code: int, threads: int, connector: sergeant.Connector, processes: Processes, queue_name: str
) -> None:
    broker = Broker(connector)
    broker.push_task(queue_name, Task(kwargs={"id": "exits", "sys_exit": code}))
    broker.push_tasks(queue_name, [Task(kwargs={"id": i}) for i in range(GOOD)])
    supervisor = start(processes, number_of_threads=threads, lease_seconds=1.0, max_deliveries=3)
    ran = Ran(connector, queue_name)

    def drained() -> bool:
        return set(ran.runs()) >= {*range(GOOD), "exits"} and not any(
            row.ready or row.delayed or row.in_flight for row in connector.queue_stats(queue_name)
        )

    wait_until(drained, timeout=90, message="every task to run and the queue to drain")
    output = finish(supervisor)
    assert f"a task or hook raised SystemExit({code})" in output, output
    assert "cannot load" not in output, output
    assert "asked to stop" not in output, output
    # one replacement; with threads the first process may also have run some of the
    # good tasks before the exit reached its main thread, so their pids are not counted
    assert output.count("started worker process") == 2, output
    assert ran.runs() == Counter([*range(GOOD), "exits"]), "a task ran twice"
    assert broker.dead_letters(queue_name) == []
    assert_nothing_left(connector, queue_name)
