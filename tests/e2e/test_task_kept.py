"""A task that did not finish, or whose retry was not stored, is never acked.

- ``on_failure`` calling ``retry()`` whose push fails (here an ``EncodeError``:
  the handler put the exception object in the kwargs) logged the failure and
  then acked the task on the worker's usual path: it was gone, neither queued
  nor dead-lettered. It is released now, as ``retry`` promises.
- A second stop signal raises ``KeyboardInterrupt`` inside the running task to
  cut it short; the half-run task was acked. It is released now.
"""

from __future__ import annotations

import os
import signal

import pytest
import sergeant
from sergeant.config import Connector, Starvation, WorkerConfig
from sergeant.testing import wait_until


def leftover(config: Connector, queue: str) -> tuple[int, int, int]:
    """Ready, in flight and dead-lettered tasks of ``queue``."""
    with sergeant.connect(config) as connector:
        stats = connector.queue_stats(queue)
        dead = connector.queue_length(f"{queue}:dead", include_delayed=True)
    return sum(n.ready for n in stats), sum(n.in_flight for n in stats), dead


def test_a_retry_that_cannot_be_stored_keeps_the_task(
    connector_config: Connector, queue_name: str
) -> None:
    class Retrying(sergeant.Worker):
        def generate_config(self) -> WorkerConfig:
            return WorkerConfig(name=queue_name, connector=connector_config, max_tasks_per_run=1)

        def work(self, task: sergeant.Task) -> None:
            raise RuntimeError("transient")

        def on_failure(self, task: sergeant.Task, exception: Exception) -> None:
            task.kwargs["error"] = exception  # msgpack cannot encode it: retry raises
            self.retry(task)

    worker = Retrying()
    worker.init_broker()
    worker.push_task({"n": 1})
    summary = worker.work_loop()
    assert summary["counters"].processed == 1
    assert leftover(connector_config, queue_name) == (1, 0, 0)


def test_a_task_cut_short_by_a_second_stop_signal_is_released(
    connector_config: Connector, queue_name: str
) -> None:
    """The task signals its own process twice (as an operator's two SIGTERMs
    would arrive while it runs): the first asks the worker to finish, the second
    cuts the task short where it stands."""
    finished: list[int] = []

    class Slow(sergeant.Worker):
        def generate_config(self) -> WorkerConfig:
            return WorkerConfig(
                name=queue_name,
                connector=connector_config,
                starvation=Starvation(time_with_no_tasks=1),
            )

        def work(self, task: sergeant.Task) -> None:
            os.kill(os.getpid(), signal.SIGTERM)
            wait_until(lambda: self.received_stop_signal, timeout=30)
            os.kill(os.getpid(), signal.SIGTERM)
            wait_until(lambda: False, timeout=30)  # the KeyboardInterrupt comes first
            finished.append(1)

    worker = Slow()
    worker.init_broker()
    worker.push_task({"n": 1})
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(KeyboardInterrupt):
            worker.work_loop()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert not finished
    assert leftover(connector_config, queue_name) == (1, 0, 0)


def test_a_hook_raising_an_exception_that_cannot_be_shown_does_not_end_the_loop(
    connector_config: Connector, queue_name: str
) -> None:
    """Its ``str()`` raising inside the "handler has failed" log line ended the
    work loop, and the tasks it held came back to crash the next process too."""

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str")

    class Hooked(sergeant.Worker):
        def generate_config(self) -> WorkerConfig:
            return WorkerConfig(name=queue_name, connector=connector_config, max_tasks_per_run=3)

        def work(self, task: sergeant.Task) -> None:
            raise ValueError("failed")

        def on_failure(self, task: sergeant.Task, exception: Exception) -> None:
            raise Unprintable

    worker = Hooked()
    worker.init_broker()
    worker.push_tasks([{"n": n} for n in range(3)])
    summary = worker.work_loop()
    assert summary["executor_exception"] is None
    assert summary["counters"].failed == 3
    assert leftover(connector_config, queue_name) == (0, 0, 0)
