"""The supervisor: run N worker processes, replace those that exit, stop them gracefully.

``python -m sergeant.supervisor --worker-module=M --worker-class=C --concurrent-workers=N``
works as in Sergeant; ``sergeant worker M:C --concurrency N`` adds a progress line.

A process that exits after ``max_tasks_per_run``, ``respawn()``, a crash or a
kill is replaced; ``stop()`` in any worker stops them all. On SIGTERM or SIGINT
each worker gets SIGTERM once: it finishes its running tasks, puts the unstarted
ones back and exits; a second signal kills what is left (their tasks come back
after their lease, never acked). A process whose task overran ``timeout +
grace_period`` is killed and replaced. While a process's own lease renewal is
stalled (a task holding the GIL), the supervisor renews its leases
(:mod:`sergeant._lease_guard`).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Sequence

from sergeant._lease_block import LEASE_ENV, LeaseBlock
from sergeant._lease_guard import LeaseGuard, worker_connector
from sergeant._status import STATUS_ENV, Counters, StatusFile
from sergeant.errors import ConfigError
from sergeant.validation import check_count, check_timeout
from sergeant.worker._child import ExitCode

__all__ = ["Supervisor", "main"]

_TICK = 0.2
#: A limit under this many bytes would kill every worker process as it starts
#: (an interpreter with sergeant loaded holds more): refused as a unit mistake.
_MIN_MEMORY_USAGE = 16 * 2**20
#: Deaths by a signal no code of a supervised worker sends itself: SIGKILL and
#: SIGTERM come from outside (an operator, the OOM killer, a deploy script; the
#: supervisor's own kills set ``killed_for``). Such a process was not crashing.
_KILLED_FROM_OUTSIDE = frozenset({-signal.SIGKILL, -signal.SIGTERM, -signal.SIGHUP})
_FATAL = {
    ExitCode.MODULE_NOT_FOUND,
    ExitCode.CLASS_NOT_FOUND,
    ExitCode.MODULE_NOT_IMPORTABLE,
    ExitCode.CONFIG_INVALID,
}
_REASONS = {
    ExitCode.FINISHED: "finished: max_tasks_per_run reached",
    ExitCode.CRASHED: "crashed (see its traceback above)",
    ExitCode.MODULE_NOT_FOUND: "could not find the worker module",
    ExitCode.CLASS_NOT_FOUND: "could not find the worker class",
    ExitCode.RESPAWN: "asked to respawn",
    ExitCode.STOP: "asked to stop",
    ExitCode.EXECUTION_FAILURE: "initialize, the work loop or finalize failed",
    ExitCode.MODULE_NOT_IMPORTABLE: "importing the worker module raised",
    ExitCode.CONFIG_INVALID: "its config is invalid (see the error above)",
}


def _describe(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    try:
        return _REASONS[ExitCode(returncode)]
    except ValueError:
        return f"exited with code {returncode}"


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class _Child:
    def __init__(self, module: str, class_name: str, status_dir: str, number: int) -> None:
        self.status_path = os.path.join(status_dir, f"worker-{number}.status")
        self.status = StatusFile(self.status_path)
        self.lease_path = os.path.join(status_dir, f"worker-{number}.leases")
        self.leases = LeaseBlock(self.lease_path)
        env = dict(os.environ)
        env[STATUS_ENV] = self.status_path
        env[LEASE_ENV] = self.lease_path
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sergeant.worker._child", module, class_name], env=env
        )
        self.started = time.monotonic()
        self.killed_for: str | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def read(self) -> tuple[Counters, float]:
        return self.status.read()

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        self.status.close()
        self.leases.close()
        for path in (self.status_path, self.lease_path):
            with contextlib.suppress(OSError):
                os.unlink(path)


class Supervisor:
    """Keeps ``concurrent_workers`` processes of one worker class running.

    :param worker_module_name: dotted module name, or a path to a ``.py`` file.
    :param max_worker_memory_usage: bytes of resident memory past which a worker
        process is killed and replaced (None: no limit); at least 16 MiB.
    :param on_tick: called about five times a second with the summed counters of
        every process so far (for a progress line).
    :param stop_timeout: seconds to wait for workers after a stop before killing
        them (None: wait for their running tasks however long they take).
    """

    def __init__(
        self,
        worker_module_name: str,
        worker_class_name: str,
        concurrent_workers: int,
        max_worker_memory_usage: int | None = None,
        logger: logging.Logger | None = None,
        on_tick: Callable[[Counters], None] | None = None,
        stop_timeout: float | None = None,
    ) -> None:
        check_count("concurrent_workers", concurrent_workers)
        if max_worker_memory_usage is not None:
            check_count("max_worker_memory_usage", max_worker_memory_usage)
            if max_worker_memory_usage < _MIN_MEMORY_USAGE:  # every process killed at once
                raise ConfigError(
                    "max_worker_memory_usage",
                    max_worker_memory_usage,
                    f"expected bytes, at least {_MIN_MEMORY_USAGE} (16 MiB): a worker process"
                    " uses more as it starts, so each would be killed before its first task;"
                    f" {max_worker_memory_usage} MiB is {max_worker_memory_usage * 2**20}",
                )
        self.worker_module_name = worker_module_name
        self.worker_class_name = worker_class_name
        self.concurrent_workers = concurrent_workers
        self.max_worker_memory_usage = max_worker_memory_usage
        self.on_tick = on_tick
        self.stop_timeout = check_timeout(stop_timeout, "stop_timeout")
        self.logger = logger or _default_logger()
        self.children: list[_Child] = []
        self.finished = Counters()
        self.stopping = False
        self.stop_since = 0.0
        self.exit_code = 0
        self._spawned = 0
        self._respawn_at: list[float] = []
        self._backoff = 0.25
        self._signals = 0
        self._pending_signals: list[int] = []
        self._status_dir = ""
        self.lease_guard = LeaseGuard(
            worker_connector(worker_module_name, worker_class_name), self.logger
        )

    # Signals ----------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: types.FrameType | None) -> None:
        # Only recorded here: the handler runs between any two bytecodes of the loop,
        # so acting here could miss a worker being spawned (it would run on forever).
        self._pending_signals.append(signum)

    def _handle_signals(self) -> None:
        while self._pending_signals:
            name = signal.Signals(self._pending_signals.pop(0)).name
            self._signals += 1
            if self._signals == 1:
                self.logger.info("%s received: stopping workers gracefully", name)
                self.begin_stop()
            else:
                self.logger.warning("%s received again: killing the workers", name)
                for child in self.children:
                    _send(child, signal.SIGKILL)

    def begin_stop(self) -> None:
        """Stop every worker gracefully: SIGTERM each once, replace none."""
        if self.stopping:
            return
        self.stopping = True
        self.stop_since = time.monotonic()
        self._respawn_at.clear()
        for child in self.children:
            _send(child, signal.SIGTERM)

    # The loop -----------------------------------------------------------------

    def totals(self) -> Counters:
        """Counters of every worker process so far, live ones included."""
        total = Counters()
        total.add(self.finished)
        for child in self.children:
            total.add(child.read()[0])
        return total

    def start(self) -> int:
        """Run until every worker has stopped; returns the exit code (1 when one could not load)."""
        self._status_dir = tempfile.mkdtemp(prefix="sergeant-supervisor-")
        previous = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, self._on_signal)
        self.lease_guard = LeaseGuard(  # fresh: a thread starts once
            worker_connector(self.worker_module_name, self.worker_class_name), self.logger
        )
        self.lease_guard.start()
        try:
            for _ in range(self.concurrent_workers):
                self._spawn()
            while self.children or self._respawn_at:
                self._supervise()
                if self.on_tick is not None:
                    self.on_tick(self.totals())
                time.sleep(_TICK)
            self.logger.info("no more workers to supervise")
        finally:
            for child in self.children:
                _send(child, signal.SIGKILL)
                child.process.wait()
                self.lease_guard.forget(child.pid)
                child.close()
            self.lease_guard.close()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            shutil.rmtree(self._status_dir, ignore_errors=True)
        return self.exit_code

    def _spawn(self) -> None:
        self._spawned += 1
        child = _Child(
            self.worker_module_name, self.worker_class_name, self._status_dir, self._spawned
        )
        self.children.append(child)
        self.lease_guard.watch(child.pid, child.leases, child.alive, child.pid)
        self.logger.info("started worker process %d", child.pid)

    def _supervise(self) -> None:
        self._handle_signals()
        now = time.monotonic()
        due = [at for at in self._respawn_at if at <= now]
        for at in due:
            self._respawn_at.remove(at)
            if not self.stopping:
                self._spawn()
        for child in list(self.children):
            returncode = child.process.poll()
            if returncode is None:
                self._watch(child)
            else:
                self._ended(child, returncode)
        if (
            self.stopping
            and self.stop_timeout is not None
            and now - self.stop_since > self.stop_timeout
        ):
            for child in self.children:
                if child.killed_for is None:
                    child.killed_for = f"still running {self.stop_timeout:g}s after the stop"
                    _send(child, signal.SIGKILL)

    def _watch(self, child: _Child) -> None:
        if child.killed_for is not None:
            return
        _, kill_after = child.read()
        # kill_after is the child's time.monotonic(): CLOCK_MONOTONIC on Linux is one
        # clock for the whole system, so it compares with ours, and a step of the
        # wall clock moves neither.
        if kill_after and time.monotonic() > kill_after:
            child.killed_for = "a task ran past timeout + grace_period"
            _send(child, signal.SIGKILL)
        elif self.max_worker_memory_usage and _rss_bytes(child.pid) > self.max_worker_memory_usage:
            child.killed_for = (
                f"it used more than max_worker_memory_usage ({self.max_worker_memory_usage} bytes)"
            )
            _send(child, signal.SIGKILL)

    def _ended(self, child: _Child, returncode: int) -> None:
        self.children.remove(child)
        self.lease_guard.forget(child.pid)
        counters = child.read()[0]
        self.finished.add(counters)
        child.close()
        reason = _describe(returncode)
        if self.stopping and returncode == ExitCode.FINISHED:
            reason = "stopped gracefully"
        if child.killed_for:
            reason = f"killed because {child.killed_for}"
        lived = time.monotonic() - child.started
        expected = returncode in (0, ExitCode.RESPAWN, ExitCode.STOP) or (
            self.stopping and returncode == -signal.SIGTERM
        )
        level = logging.INFO if expected else logging.ERROR
        self.logger.log(level, "worker process %d ended after %.1fs: %s", child.pid, lived, reason)
        if returncode in _FATAL:
            self.logger.critical(
                "cannot load %s:%s; stopping", self.worker_module_name, self.worker_class_name
            )
            self.exit_code = 1
            self.begin_stop()
            return
        if returncode == ExitCode.STOP:
            self.begin_stop()
            return
        if self.stopping:
            return
        # A process that got through a task was working: whatever ended it (a kill,
        # the OOM killer), it is no crash loop, so replace it at once. Nor is one
        # killed from outside before its first task (on a slow machine start-up
        # takes seconds): backing off would punish the pool for someone else's kill.
        from_outside = returncode in _KILLED_FROM_OUTSIDE and child.killed_for is None
        if counters.processed or returncode in (0, ExitCode.RESPAWN) or lived > 2 or from_outside:
            if counters.processed or lived > 10:
                self._backoff = 0.25
            self._spawn()
        else:  # a process that keeps dying at once is replaced ever more slowly
            self.logger.info("replacing it in %.1fs", self._backoff)
            self._respawn_at.append(time.monotonic() + self._backoff)
            self._backoff = min(self._backoff * 2, 5.0)


def _send(child: _Child, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, OSError):
        child.process.send_signal(signum)


def _default_logger() -> logging.Logger:
    logger = logging.getLogger("sergeant.supervisor")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(name)s %(process)d %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"
            )
        )
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def main(argv: Sequence[str] | None = None) -> int:
    """Sergeant's launcher: ``python -m sergeant.supervisor --worker-module=M ...``."""
    parser = argparse.ArgumentParser(prog="python -m sergeant.supervisor")
    parser.add_argument(
        "--concurrent-workers",
        "--concurrent-worker",
        type=int,
        required=True,
        dest="concurrent_workers",
        help="number of worker processes",
    )
    parser.add_argument("--worker-class", required=True, help="class name of the worker")
    parser.add_argument("--worker-module", required=True, help="module of the worker class")
    parser.add_argument(
        "--max-worker-memory-usage",
        type=int,
        default=None,
        help="replace a worker process once its RSS exceeds this many bytes",
    )
    args = parser.parse_args(argv)
    try:
        supervisor = Supervisor(
            args.worker_module,
            args.worker_class,
            args.concurrent_workers,
            max_worker_memory_usage=args.max_worker_memory_usage,
        )
    except ConfigError as exc:
        parser.error(str(exc))
    return supervisor.start()


if __name__ == "__main__":
    sys.exit(main())
