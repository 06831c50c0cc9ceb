"""``Worker``: subclass it, implement ``work(task)``, run it under the supervisor."""

from __future__ import annotations

import datetime
import logging
import signal
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any

from sergeant._connect import connect
from sergeant._legacy_check import warn_once
from sergeant._status import Counters
from sergeant.broker import Broker, Reserved
from sergeant.connector import Lock, Priority
from sergeant.encoder import TaskEncoder
from sergeant.errors import ConfigError, SergeantError
from sergeant.executor._runner import Runner
from sergeant.task import Task
from sergeant.worker._exceptions import (
    WorkerInterrupt,
    WorkerMaxRetries,
    WorkerRequeue,
    WorkerRespawn,
    WorkerRetry,
    WorkerStop,
)
from sergeant.worker_config import WorkerConfig

__all__ = ["Worker"]

_FORMAT = "%(asctime)s %(name)-12s %(process)d %(levelname)-8s %(message)s"


class Worker:
    """A consumer of the queue named ``config.name``.

    Subclass it, override :meth:`generate_config` and :meth:`work`, and optionally
    :meth:`initialize`, :meth:`finalize`, :meth:`pre_work`, :meth:`post_work` and the
    ``on_*`` handlers. Inside ``work`` and the handlers, the actions :meth:`retry`,
    :meth:`requeue`, :meth:`stop`, :meth:`respawn`, :meth:`push_task` and
    :meth:`lock` are available. Run it with ``sergeant worker module:Class`` or
    ``python -m sergeant.supervisor --worker-module=M --worker-class=C
    --concurrent-workers=N``; a producer calls :meth:`init_broker` and
    :meth:`push_tasks`.
    """

    def __init__(self) -> None:
        config = self.generate_config()
        if not isinstance(config, WorkerConfig):
            raise ConfigError(
                "generate_config()", type(config).__name__, "return a sergeant.config.WorkerConfig"
            )
        self.config = config
        self.logger = logging.getLogger(config.name)
        self.logger.setLevel(config.logging.level)
        self.logger.propagate = False
        self.counters = Counters()
        self.counters_guard = threading.Lock()
        # The task being worked, per thread; a plain slot when there is one thread.
        self.current: threading.local | _CurrentTask = (
            threading.local() if config.number_of_threads > 1 else _CurrentTask()
        )
        self.received_stop_signal = False
        self.broker: Broker
        self._logger_ready = False

    def generate_config(self) -> WorkerConfig:
        """The worker's configuration; override it (default: a worker named ``'worker'``)."""
        return WorkerConfig(name="worker")

    # Set-up ---------------------------------------------------------------

    def init_worker(self) -> None:
        """Set up the logger and connect the broker."""
        self.init_logger()
        self.init_broker()

    def init_logger(self) -> None:
        """Attach the configured handlers (and stdout with ``log_to_stdout``)."""
        for handler in list(self.logger.handlers):
            self.logger.removeHandler(handler)
        if self.config.logging.log_to_stdout:
            stream = logging.StreamHandler(sys.stdout)
            stream.setFormatter(logging.Formatter(_FORMAT, "%Y-%m-%d %H:%M:%S"))
            self.logger.addHandler(stream)
        for handler in self.config.logging.handlers:
            self.logger.addHandler(handler)
        if not self.logger.handlers:
            self.logger.addHandler(logging.NullHandler())
        self._logger_ready = True

    def init_broker(self) -> None:
        """Connect to the configured connector (each process connects on its own)."""
        config = self.config
        encoder = TaskEncoder(
            config.encoder.serializer, config.encoder.compressor, config.max_payload_bytes
        )
        self.broker = Broker(connect(self.config.connector), encoder)

    def init_executor(self) -> None:
        """Kept for Sergeant compatibility: executors are set up by :meth:`work_loop`."""

    def close(self) -> None:
        """Close the connector."""
        if hasattr(self, "broker"):
            self.broker.connector.close()

    # Producer API -----------------------------------------------------------

    def _queue(self, task_name: str | None) -> str:
        return task_name or self.config.name

    def get_trace_id(self) -> str | None:
        """The trace id of the task this thread is working on, if any."""
        item: Reserved | None = getattr(self.current, "item", None)
        return item.task.trace_id if item is not None and item.task is not None else None

    def purge_tasks(self, task_name: str | None = None) -> bool:
        """Delete every task of the queue."""
        return self.broker.purge_tasks(task_name=self._queue(task_name))

    def number_of_enqueued_tasks(
        self, task_name: str | None = None, include_delayed: bool = False
    ) -> int:
        """Tasks waiting in the queue (with ``include_delayed``, delayed ones too)."""
        return self.broker.number_of_enqueued_tasks(
            task_name=self._queue(task_name), include_delayed=include_delayed
        )

    def push_task(
        self,
        kwargs: dict[str, Any],
        task_name: str | None = None,
        priority: Priority = "NORMAL",
        consumable_from: float | None = None,
        trace_id: str | None = None,
    ) -> bool:
        """Push one task built from ``kwargs`` (default queue: this worker's)."""
        task = Task(kwargs=kwargs, trace_id=trace_id if trace_id else self.get_trace_id())
        return self.broker.push_task(
            task_name=self._queue(task_name),
            task=task,
            priority=priority,
            consumable_from=consumable_from,
        )

    def push_tasks(
        self,
        kwargs_list: Any,
        task_name: str | None = None,
        priority: Priority = "NORMAL",
        consumable_from: float | None = None,
        trace_id: str | None = None,
    ) -> bool:
        """Push one task per ``kwargs`` of ``kwargs_list`` in one call."""
        trace_id = trace_id if trace_id else self.get_trace_id()
        now = time.time()
        tasks = [Task(kwargs=kwargs, trace_id=trace_id, date=now) for kwargs in kwargs_list]
        return self.broker.push_tasks(
            task_name=self._queue(task_name),
            tasks=tasks,
            priority=priority,
            consumable_from=consumable_from,
        )

    def get_next_tasks(self, number_of_tasks: int, task_name: str | None = None) -> list[Task]:
        """Pop up to ``number_of_tasks`` for good (at-most-once, as in Sergeant)."""
        return self.broker.pop_tasks(
            task_name=self._queue(task_name), number_of_tasks=number_of_tasks
        )

    def lock(self, name: str) -> Lock:
        """A lock shared by every worker on the same storage."""
        return self.broker.lock(name=name)

    # The loop ---------------------------------------------------------------

    def stop_signal_handler(self, _signum: int, _frame: types.FrameType | None) -> None:
        """SIGTERM/SIGINT: finish the running tasks, put the rest back, exit."""
        if self.received_stop_signal:
            raise KeyboardInterrupt
        self.logger.info("stop signal received: finishing running tasks")
        self.received_stop_signal = True

    def work_loop(self) -> dict[str, Any]:
        """Run until the task budget is spent, a stop signal arrives or an action ends it.

        While it runs, the objects alive when it started are frozen for Python's
        cyclic garbage collector (:func:`gc.freeze`, undone when it returns), so
        collections walk only what the tasks allocate; reference counting still
        frees them as usual.

        :returns: Sergeant's summary: ``start_time``, ``end_time``, ``respawn``, ``stop``,
            ``initialize_exception``, ``executor_exception``, ``finalize_exception``,
            ``executor`` (cpu and wall time), plus ``counters``.
        """
        if not self._logger_ready:
            self.init_logger()
        if not hasattr(self, "broker"):
            self.init_broker()
        warn_once(self.broker.connector, self.config.name, self.logger)
        summary: dict[str, Any] = {
            "start_time": datetime.datetime.now(datetime.UTC),
            "executor_exception": None,
            "initialize_exception": None,
            "finalize_exception": None,
            "executor": {},
            "respawn": False,
            "stop": False,
        }
        main = threading.current_thread() is threading.main_thread()
        previous = {}
        if main:
            for signum in (signal.SIGTERM, signal.SIGINT):
                if signal.getsignal(signum) is not signal.SIG_IGN:
                    previous[signum] = signal.signal(signum, self.stop_signal_handler)
        try:
            if self._guarded(summary, "initialize_exception", self.initialize):
                wall, cpu = time.perf_counter(), time.process_time()
                self._guarded(summary, "executor_exception", Runner(self).run)
                self._guarded(summary, "finalize_exception", self.finalize)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                summary["executor"] = {
                    "cpu_utilization": cpu / wall if wall else 0.0,
                    "total_wall_time": wall,
                    "total_cpu_time": cpu,
                }
        finally:
            for signum, previous_handler in previous.items():
                signal.signal(signum, previous_handler)
            for handler in self.logger.handlers:
                handler.flush()
        summary["end_time"] = datetime.datetime.now(datetime.UTC)
        summary["counters"] = self.counters
        return summary

    def _overrides_hook(self, name: str) -> bool:
        """True when this worker has its own ``name`` (its class's, or set on the
        instance): the runner skips the hooks this class leaves doing nothing."""
        return getattr(type(self), name) is not getattr(Worker, name) or name in vars(self)

    def _guarded(self, summary: dict[str, Any], key: str, step: Any) -> bool:
        try:
            step()
        except WorkerRespawn:
            summary["respawn"] = True
        except WorkerStop:
            summary["stop"] = True
        except Exception as exc:
            self.logger.error("%s has failed: %s", key.replace("_exception", ""), exc)
            summary[key] = exc
        else:
            return True
        return False

    # Actions ----------------------------------------------------------------

    def retry(
        self, task: Task, priority: Priority = "NORMAL", consumable_from: float | None = None
    ) -> None:
        """Push the task again with ``run_count`` + 1 (past ``max_retries``: dead-letter it).

        Refused for what it carries (a :class:`~sergeant.errors.ConfigError` such as
        an ``EncodeError``), the task as stored is dead-lettered with the reason;
        if the storage fails to take it, the task is released to run again.
        """
        max_retries = self.config.max_retries
        if max_retries > 0 and task.run_count >= max_retries:
            raise WorkerMaxRetries()
        self._check_next_run("retry")
        try:
            self.broker.retry(
                task_name=self.config.name,
                task=task,
                priority=priority,
                consumable_from=consumable_from,
            )
        except ConfigError as exc:
            self._dead_letter_current("retry", exc)
            raise
        except SergeantError:
            self._keep_current()
            raise
        self._next_run_stored()
        raise WorkerRetry()

    def requeue(
        self, task: Task, priority: Priority = "NORMAL", consumable_from: float | None = None
    ) -> None:
        """Push the task again unchanged."""
        self._check_next_run("requeue")
        try:
            self.broker.requeue(
                task_name=self.config.name,
                task=task,
                priority=priority,
                consumable_from=consumable_from,
            )
        except ConfigError as exc:
            self._dead_letter_current("requeue", exc)
            raise
        except SergeantError:
            self._keep_current()
            raise
        self._next_run_stored()
        raise WorkerRequeue()

    def _check_next_run(self, action: str) -> None:
        """Refuse a second retry or requeue of the running task: each would queue one
        more copy (an ``on_retry`` that retries again queued hundreds, each doing
        the same when it ran)."""
        item: Reserved | None = getattr(self.current, "item", None)
        if item is not None and getattr(self.current, "stored", None) is item:
            raise RuntimeError(
                f"{action}() called again for the running task: its next run is already"
                " queued (call retry or requeue once per run, e.g. not from on_retry)"
            )

    def _next_run_stored(self) -> None:
        self.current.stored = getattr(self.current, "item", None)

    def _keep_current(self) -> None:
        """The retry or requeue was not stored: release the reserved task instead of acking it."""
        item: Reserved | None = getattr(self.current, "item", None)
        if item is not None:
            item.put_back = True

    def _dead_letter_current(self, action: str, error: ConfigError) -> None:
        """The retry or requeue was refused for what it carries (kwargs it cannot
        encode, a bad priority): every run would end the same way, so the task as
        stored goes to the dead-letter queue with that reason instead."""
        item: Reserved | None = getattr(self.current, "item", None)
        if item is None:
            return
        stored = item.payload
        self._dead_letter(lambda: stored, f"its {action} was refused: {error}", item.deliveries)

    def _dead_letter(self, payload: Callable[[], bytes], reason: str, deliveries: int) -> None:
        """Keep the running task in the dead-letter queue with ``reason``; if the
        payload cannot be made or stored, release it (it runs again)."""
        try:
            self.broker.dead_letter(self.config.name, payload(), reason, deliveries)
        except SergeantError as exc:
            self.logger.error("could not dead-letter a task (it will run again): %s", exc)
            self._keep_current()
            return
        self.count("dead")

    def stop(self) -> None:
        """End this process; the supervisor then stops every worker."""
        raise WorkerStop()

    def respawn(self) -> None:
        """End this process; the supervisor starts a fresh one in its place."""
        raise WorkerRespawn()

    # Dispatch to the user's hooks (each logged and guarded) -------------------

    def count(self, name: str) -> None:
        """Add one to a counter (thread-safe)."""
        with self.counters_guard:
            setattr(self.counters, name, getattr(self.counters, name) + 1)

    def _log_event(self, event: str, level: str, message: str, task: Task | None) -> None:
        # Sergeant's calls exactly (logger.<level>(msg=..., extra=...)): users' mocks match them
        if getattr(self.config.logging.events, event):
            getattr(self.logger, level)(msg=message, extra={"task": task})

    def hook_failed(
        self, name: str, exc: BaseException, task: Task | None, extra: dict[str, Any] | None = None
    ) -> None:
        """Log that a user hook raised (the worker carries on)."""
        self.logger.error(
            msg=f"{name} handler has failed: {_shown(exc)}",
            extra={"task": task} if extra is None else extra,
        )

    def run_pre_work(self, task: Task) -> None:
        """Call :meth:`pre_work`, logging its errors."""
        try:
            self.pre_work(task)
        except Exception as exc:
            self.hook_failed("pre_work", exc, task)

    def run_post_work(self, task: Task, success: bool, exception: BaseException | None) -> None:
        """Call :meth:`post_work`, logging its errors."""
        try:
            self.post_work(task, success, exception)
        except Exception as exc:
            self.hook_failed("post_work", exc, task)

    def _dispatch_actions(self, name: str, task: Task, call: Any) -> None:
        try:
            call()
        except WorkerRetry:
            self.handle_retry(task)
        except WorkerMaxRetries:
            self.handle_max_retries(task)
        except WorkerRequeue:
            self.handle_requeue(task)
        except WorkerInterrupt:
            raise
        except Exception as exc:
            self.hook_failed(name, exc, task)

    def handle_success(self, task: Task, returned_value: Any) -> None:
        """The task returned: log, count, call :meth:`on_success` (kept lean: the hot path)."""
        if self.config.number_of_threads > 1:
            self.count("done")
        else:
            self.counters.done += 1
        if self.config.logging.events.on_success:
            self.logger.info(msg="task has finished successfully", extra={"task": task})
        try:
            self.on_success(task=task, returned_value=returned_value)
        except WorkerRetry:
            self.handle_retry(task)
        except WorkerMaxRetries:
            self.handle_max_retries(task)
        except WorkerRequeue:
            self.handle_requeue(task)
        except WorkerInterrupt:
            raise
        except Exception as exc:
            self.hook_failed("on_success", exc, task)

    def handle_failure(self, task: Task, exception: Exception) -> None:
        """The task raised: log, count, call :meth:`on_failure`."""
        self.count("failed")
        self._log_event("on_failure", "error", "task has failed", task)  # as Sergeant: no text
        self._dispatch_actions(
            "on_failure", task, lambda: self.on_failure(task=task, exception=exception)
        )

    def handle_timeout(self, task: Task) -> None:
        """The task ran past its timeout: log, count, call :meth:`on_timeout`."""
        self.count("timed_out")
        self._log_event("on_timeout", "error", "task has timedout", task)
        self._dispatch_actions("on_timeout", task, lambda: self.on_timeout(task=task))

    def handle_retry(self, task: Task) -> None:
        """The task was pushed again: log, count, call :meth:`on_retry`."""
        self.count("retried")
        self._log_event("on_retry", "info", "task has retried", task)
        self._dispatch_actions("on_retry", task, lambda: self.on_retry(task=task))

    def handle_requeue(self, task: Task) -> None:
        """The task was put back unchanged: log, count, call :meth:`on_requeue`."""
        self.count("requeued")
        self._log_event("on_requeue", "info", "task has requeued", task)
        self._dispatch_actions("on_requeue", task, lambda: self.on_requeue(task=task))

    def handle_max_retries(self, task: Task) -> None:
        """``retry`` past ``max_retries``: call :meth:`on_max_retries`, then dead-letter it."""
        self._log_event("on_max_retries", "error", "task has reached max retries", task)
        try:
            self._dispatch_actions("on_max_retries", task, lambda: self.on_max_retries(task=task))
        except WorkerInterrupt:  # stop() or respawn(): the task is dead-lettered first
            self._dead_letter_max_retries(task)
            raise
        self._dead_letter_max_retries(task)

    def _dead_letter_max_retries(self, task: Task) -> None:
        """Keep ``task`` in the dead-letter queue; if the storage refuses, release it."""
        item: Reserved | None = getattr(self.current, "item", None)
        self._dead_letter(
            lambda: self.broker.encoder.encode_task(task),
            f"max_retries ({self.config.max_retries}) exceeded after {task.run_count} runs",
            item.deliveries if item is not None else 1,
        )

    def handle_starvation(self, time_with_no_tasks: int) -> None:
        """The queue has been empty a while: log, call :meth:`on_starvation`."""
        if self.config.logging.events.on_starvation:
            self.logger.warning(
                msg="worker is starving", extra={"time_with_no_tasks": time_with_no_tasks}
            )
        try:
            self.on_starvation(time_with_no_tasks=time_with_no_tasks)
        except WorkerInterrupt as exc:
            raise exc
        except Exception as exc:
            self.hook_failed("on_starvation", exc, None, {"time_with_no_tasks": time_with_no_tasks})

    def handle_stop(self, task: Task) -> None:
        """``stop`` was called while working ``task``: log, call :meth:`on_stop`."""
        self._log_event("on_stop", "warning", "task has stopped", task)
        try:
            self.on_stop(task=task)
        except WorkerInterrupt:
            raise
        except Exception as exc:
            self.hook_failed("on_stop", exc, task)

    # Hooks to override ------------------------------------------------------

    def initialize(self) -> None:
        """Called once per process before the first task."""

    def finalize(self) -> None:
        """Called once per process after the last task."""

    def pre_work(self, task: Task) -> None:
        """Called before each task."""

    def post_work(self, task: Task, success: bool, exception: BaseException | None) -> None:
        """Called after each task with whether it succeeded and what it raised."""

    def work(self, task: Task) -> Any:
        """Do the task. Override it; its return value reaches :meth:`on_success`."""

    def on_success(self, task: Task, returned_value: Any) -> None:
        """``work`` returned."""

    def on_failure(self, task: Task, exception: Exception) -> None:
        """``work`` raised ``exception``."""

    def on_timeout(self, task: Task) -> None:
        """``work`` ran past ``timeouts.timeout`` and was interrupted."""

    def on_retry(self, task: Task) -> None:
        """The task was retried."""

    def on_requeue(self, task: Task) -> None:
        """The task was requeued."""

    def on_max_retries(self, task: Task) -> None:
        """``retry`` was called past ``max_retries``; the task goes to the dead-letter queue."""

    def on_starvation(self, time_with_no_tasks: int) -> None:
        """The queue has been empty for ``time_with_no_tasks`` seconds."""

    def on_stop(self, task: Task) -> None:
        """``stop`` was called while working ``task``."""


class _CurrentTask:
    """What ``Worker.current`` holds when tasks run on the one main thread."""

    __slots__ = ("item", "stored")

    def __init__(self) -> None:
        self.item: Reserved | None = None
        #: The item whose retry or requeue was stored (one a run).
        self.stored: Reserved | None = None


def _shown(exc: BaseException) -> str:
    """``str(exc)``, or a stand-in when the exception cannot say what it is."""
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__name__} whose str() raised>"
