"""A task or handler that raises what no handler takes is released, never acked.

- ``work`` raising a ``BaseException`` other than the worker's own and
  ``sys.exit()`` (``asyncio.CancelledError``, ``GeneratorExit``, a user's own)
  acked the task: its handlers never ran, no dead letter said why, and it was
  gone. It is released to run again now (as a task cut short by a second stop
  signal was), and the loop still ends with the exception.
- So is a task whose handling raised past the worker (a ``logging.Handler``
  that raises on the worker's "task has failed" record, before ``on_failure``):
  on the hot path (one thread, no hooks but ``on_failure``) it was neither
  acked nor released, in flight until its lease ran out; elsewhere it was acked.
- ``pre_work`` calling ``stop()`` or ``respawn()`` acked the task it was about
  to start: it never ran and was gone. It is released now. ``retry()`` or
  ``requeue()`` there escaped ``work_loop`` as a bare ``WorkerRetry``; they are
  handled as when ``work`` calls them (``on_retry``, ``on_requeue``).
- ``on_max_retries`` calling ``stop()`` or ``respawn()`` skipped the dead letter
  and acked the task: gone, with no reason kept. It is dead-lettered first now.
- ``on_retry`` calling ``retry()`` (or ``on_requeue``, ``requeue()``) queued a
  copy per call until the recursion limit: one task became about 490, each
  doing the same when it ran. A second retry or requeue of the running task is
  refused, with an error naming the call, logged as the hook's failure.
- The rest of a batch, not started when such an exception (or ``sys.exit()``)
  ended the loop, was left in flight until its lease ran out; it goes back now.
- Under the supervisor, an unhandled BaseException escaped the worker process's entry
  point without its final ``os._exit``: a non-daemon thread of the user's kept
  the process alive, idle, forever, and the supervisor never replaced it. The
  process now ends as crashed, and its replacement runs the released task.
- ``--max-worker-memory-usage=512`` (MiB meant, bytes read) killed every
  worker process before its first task, forever. A limit under 16 MiB is
  refused, with the value in bytes the user likely meant.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess

import pytest
import sergeant
from conftest import Processes
from sergeant.config import Connector, Logging, Starvation, WorkerConfig
from sergeant.errors import ConfigError
from sergeant.supervisor import Supervisor
from sergeant.testing import wait_until


class Unhandled(BaseException):
    """A user's own BaseException."""


def leftover(config: Connector, queue: str) -> tuple[int, int, int]:
    """Ready, in flight and dead-lettered tasks of ``queue``."""
    with sergeant.connect(config) as connector:
        stats = connector.queue_stats(queue)
        dead = connector.queue_length(f"{queue}:dead", include_delayed=True)
    return sum(n.ready for n in stats), sum(n.in_flight for n in stats), dead


@pytest.mark.parametrize("threads", [1, 3], ids=["one thread", "threads"])
@pytest.mark.parametrize("raised", [asyncio.CancelledError, GeneratorExit, Unhandled])
def test_a_task_raising_an_unhandled_base_exception_is_released(
    connector_config: Connector, queue_name: str, raised: type[BaseException], threads: int
) -> None:
    handled: list[str] = []

    class Raising(sergeant.Worker):
        def generate_config(self) -> WorkerConfig:
            return WorkerConfig(
                name=queue_name,
                connector=connector_config,
                max_tasks_per_run=3,
                tasks_per_transaction=3,
                number_of_threads=threads,
            )

        def work(self, task: sergeant.Task) -> None:
            raise raised()

        def on_failure(self, task: sergeant.Task, exception: Exception) -> None:
            handled.append("on_failure")

    worker = Raising()
    worker.init_broker()
    worker.push_tasks([{"n": n} for n in range(3)])
    with pytest.raises(raised):
        worker.work_loop()
    assert handled == []
    assert leftover(connector_config, queue_name) == (3, 0, 0), "a task was acked unhandled"


class RaisingHandler(logging.Handler):
    """A log handler that raises instead of calling ``handleError``."""

    def emit(self, record: logging.LogRecord) -> None:
        raise RuntimeError("the log server is gone")


@pytest.mark.parametrize("hot_path", [True, False], ids=["hot path", "with post_work"])
def test_a_task_whose_failure_handling_raises_is_released(
    connector_config: Connector, queue_name: str, hot_path: bool
) -> None:
    handled: list[str] = []

    class Failing(sergeant.Worker):
        def generate_config(self) -> WorkerConfig:
            return WorkerConfig(
                name=queue_name,
                connector=connector_config,
                max_tasks_per_run=1,
                logging=Logging(handlers=[RaisingHandler()]),
            )

        def work(self, task: sergeant.Task) -> None:
            raise ValueError("failed")

        def on_failure(self, task: sergeant.Task, exception: Exception) -> None:
            handled.append("on_failure")

    if not hot_path:
        Failing.post_work = lambda self, task, success, exception: None  # type: ignore[method-assign]
    worker = Failing()
    worker.init_broker()
    worker.push_task({"n": 1})
    with pytest.raises(RuntimeError, match="the log server is gone"):
        worker.work_loop()
    assert handled == []
    assert leftover(connector_config, queue_name) == (1, 0, 0), "acked, or left in flight"


def test_a_worker_process_ended_by_an_unhandled_base_exception_is_replaced(
    connector: sergeant.Connector, processes: Processes, queue_name: str
) -> None:
    """The task comes back to the replacement, past ``max_deliveries`` at the
    third delivery: its dead letter shows two processes ended and a third ran."""
    broker = sergeant.broker.Broker(connector)
    broker.push_task(queue_name, sergeant.Task(kwargs={"n": 1}))
    supervisor = processes.start(
        "worker", "hostile_workers:Cancelled", "-c", "1", "--no-progress", max_deliveries=2
    )
    try:
        wait_until(
            lambda: broker.dead_letters(queue_name),
            timeout=60,
            message="the task to come back to replacements until dead-lettered",
        )
    finally:
        supervisor.send_signal(signal.SIGTERM)
        try:
            output, _ = supervisor.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            supervisor.kill()
            output, _ = supervisor.communicate()
    (letter,) = broker.dead_letters(queue_name)
    assert "handed out 3 times (max_deliveries=2)" in letter.reason, letter.reason
    assert output.count("crashed") == 2, output
    assert "CancelledError" in output, output
    assert output.count("started worker process") == 3, output


def test_the_unstarted_rest_of_a_batch_goes_back_when_a_task_calls_sys_exit(
    connector_config: Connector, queue_name: str
) -> None:
    """The task that called ``sys.exit()`` is done (acked), as documented; the
    rest of its batch had not started and was left in flight until its lease."""

    class Exiting(sergeant.Worker):
        def generate_config(self) -> WorkerConfig:
            return WorkerConfig(
                name=queue_name, connector=connector_config, tasks_per_transaction=3
            )

        def work(self, task: sergeant.Task) -> None:
            raise SystemExit(3)

    worker = Exiting()
    worker.init_broker()
    worker.push_tasks([{"n": n} for n in range(3)])
    with pytest.raises(SystemExit):
        worker.work_loop()
    assert leftover(connector_config, queue_name) == (2, 0, 0)


@pytest.mark.parametrize("action", ["stop", "respawn"])
def test_a_task_whose_pre_work_stops_the_worker_is_released_unrun(
    connector_config: Connector, queue_name: str, action: str
) -> None:
    ran: list[int] = []

    class Stopping(sergeant.Worker):
        def generate_config(self) -> WorkerConfig:
            return WorkerConfig(name=queue_name, connector=connector_config)

        def pre_work(self, task: sergeant.Task) -> None:
            getattr(self, action)()

        def work(self, task: sergeant.Task) -> None:
            ran.append(task.kwargs["n"])

    worker = Stopping()
    worker.init_broker()
    worker.push_tasks([{"n": n} for n in range(3)])
    summary = worker.work_loop()
    assert summary[action] is True
    assert ran == []
    assert leftover(connector_config, queue_name) == (3, 0, 0), "a task was acked unrun"


@pytest.mark.parametrize("action", ["retry", "requeue"])
def test_retry_or_requeue_from_pre_work_is_handled_as_from_work(
    connector_config: Connector, queue_name: str, action: str
) -> None:
    events: list[str] = []

    class Deferring(sergeant.Worker):
        def generate_config(self) -> WorkerConfig:
            return WorkerConfig(
                name=queue_name,
                connector=connector_config,
                starvation=Starvation(time_with_no_tasks=1),
            )

        def pre_work(self, task: sergeant.Task) -> None:
            if not task.kwargs.get("again"):
                task.kwargs["again"] = True
                getattr(self, action)(task)

        def work(self, task: sergeant.Task) -> None:
            events.append(f"work {task.run_count}")

        def on_retry(self, task: sergeant.Task) -> None:
            events.append("on_retry")

        def on_requeue(self, task: sergeant.Task) -> None:
            events.append("on_requeue")

        def on_starvation(self, time_with_no_tasks: int) -> None:
            self.stop()

    worker = Deferring()
    worker.init_broker()
    worker.push_task({"n": 1})
    summary = worker.work_loop()
    assert summary["executor_exception"] is None
    runs = 1 if action == "retry" else 0
    assert events == [f"on_{action}", f"work {runs}"]
    assert leftover(connector_config, queue_name) == (0, 0, 0)


def test_a_memory_limit_no_worker_process_can_start_under_is_refused(
    processes: Processes,
) -> None:
    with pytest.raises(ConfigError, match="max_worker_memory_usage: 512; expected bytes") as error:
        Supervisor("hostile_workers", "Cancelled", 1, max_worker_memory_usage=512)
    assert "512 MiB is 536870912" in str(error.value)
    Supervisor("hostile_workers", "Cancelled", 1, max_worker_memory_usage=100 * 2**20)
    run = processes.run("worker", "hostile_workers:Cancelled", "--max-worker-memory-usage=512")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "512 MiB is 536870912" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("action", ["stop", "respawn"])
def test_a_task_past_max_retries_is_dead_lettered_when_on_max_retries_stops(
    connector_config: Connector, queue_name: str, action: str
) -> None:
    class GivingUp(sergeant.Worker):
        def generate_config(self) -> WorkerConfig:
            return WorkerConfig(name=queue_name, connector=connector_config, max_retries=1)

        def work(self, task: sergeant.Task) -> None:
            self.retry(task)

        def on_max_retries(self, task: sergeant.Task) -> None:
            getattr(self, action)()

    worker = GivingUp()
    worker.init_broker()
    worker.push_task({"n": 1})
    summary = worker.work_loop()
    assert summary[action] is True
    assert leftover(connector_config, queue_name) == (0, 0, 1), "acked, not dead-lettered"
    (dead,) = worker.broker.dead_letters(queue_name)
    assert "max_retries (1) exceeded" in dead.reason


class Records(logging.Handler):
    """Keeps the messages of the records it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.mark.parametrize("action", ["retry", "requeue"])
def test_a_hook_retrying_the_task_again_queues_one_copy(
    connector_config: Connector, queue_name: str, action: str
) -> None:
    records = Records()

    class Again(sergeant.Worker):
        def generate_config(self) -> WorkerConfig:
            return WorkerConfig(
                name=queue_name,
                connector=connector_config,
                max_tasks_per_run=1,
                logging=Logging(handlers=[records]),
            )

        def work(self, task: sergeant.Task) -> None:
            getattr(self, action)(task)

        def on_retry(self, task: sergeant.Task) -> None:
            self.retry(task)

        def on_requeue(self, task: sergeant.Task) -> None:
            self.requeue(task)

    worker = Again()
    worker.init_broker()
    worker.push_task({"n": 1})
    worker.work_loop()
    assert leftover(connector_config, queue_name) == (1, 0, 0)
    assert f"on_{action} handler has failed: {action}() called again" in records.messages[0]
