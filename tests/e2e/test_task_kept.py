"""A task that did not finish, or whose retry was not stored, is never acked.

- ``retry()`` refused for what it carries (an ``EncodeError``: the handler put
  the exception object in the kwargs) acked the task when called from
  ``on_failure``: it was gone, neither queued nor dead-lettered. Called from
  ``work`` it released the task, which ran and failed the same way until
  ``max_deliveries`` dead-lettered it as "its workers kept dying". Every run
  would end the same way, so the task as stored is dead-lettered at once, with
  the reason. (A retry the storage fails to take releases the task:
  tests/e2e/test_worker.py.)
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


@pytest.mark.parametrize("retry_from", ["work", "on_failure"])
def test_a_retry_that_cannot_be_encoded_dead_letters_the_task_with_the_reason(
    connector_config: Connector, queue_name: str, retry_from: str
) -> None:
    class Retrying(sergeant.Worker):
        def generate_config(self) -> WorkerConfig:
            return WorkerConfig(name=queue_name, connector=connector_config, max_tasks_per_run=1)

        def work(self, task: sergeant.Task) -> None:
            error = RuntimeError("transient")
            if retry_from == "work":
                task.kwargs["error"] = error  # msgpack cannot encode it: retry raises
                self.retry(task)
            raise error

        def on_failure(self, task: sergeant.Task, exception: Exception) -> None:
            if retry_from == "on_failure":
                task.kwargs["error"] = exception
                self.retry(task)

    worker = Retrying()
    worker.init_broker()
    worker.push_task({"n": 1})
    summary = worker.work_loop()
    assert summary["counters"].processed == 1
    assert leftover(connector_config, queue_name) == (0, 0, 1)
    (dead,) = worker.broker.dead_letters(queue_name)
    assert "its retry was refused" in dead.reason
    assert "kwargs['error']" in dead.reason
    assert "cannot encode a RuntimeError" in dead.reason
    assert worker.broker.encoder.decode_task(dead.payload).kwargs == {"n": 1}


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
