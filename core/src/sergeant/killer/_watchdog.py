"""Interrupt tasks that run past their timeout, and kill the process past the grace period.

One thread per worker process watches the deadlines of the running tasks. A task
on the main thread is interrupted by a signal (so a blocking ``sleep`` or socket
read ends too); a task on another thread gets the exception raised asynchronously
in it (it takes effect at the thread's next Python instruction).
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading
import time
import types
from collections.abc import Callable

from sergeant.worker._exceptions import WorkerTimedout

__all__ = ["Watchdog"]

_TICK = 0.05


class Watchdog:
    """Deadlines per thread; calls ``on_overrun`` past ``timeout + grace_period``.

    :param on_kill_after: told the earliest ``deadline + grace_period`` of the
        running tasks in ``time.monotonic()`` seconds (0 when none), so a supervisor
        can kill a stuck process (CLOCK_MONOTONIC is system-wide on Linux).
    """

    def __init__(
        self,
        timeout: float,
        grace_period: float,
        logger: logging.Logger,
        on_kill_after: Callable[[float], None],
        supervised: bool,
    ) -> None:
        self.timeout = timeout
        self.grace_period = grace_period
        self.logger = logger
        self.on_kill_after = on_kill_after
        self.supervised = supervised
        self._deadlines: dict[int, float] = {}
        self._interrupted: set[int] = set()
        self._working: set[int] = set()
        self._guard = threading.Lock()
        self._stopped = threading.Event()
        self._main = threading.main_thread().ident
        self._use_signal = threading.current_thread() is threading.main_thread()
        self._previous_handler: Callable[[int, types.FrameType | None], object] | int | None = None
        self._thread = threading.Thread(target=self._run, name="sergeant-watchdog", daemon=True)

    def start(self) -> None:
        """Install the signal handler (main thread only) and start watching."""
        if self._use_signal:
            self._previous_handler = signal.signal(signal.SIGUSR1, self._on_signal)
        self._thread.start()

    def close(self) -> None:
        """Stop watching and restore the signal handler."""
        self._stopped.set()
        self._thread.join()
        if self._use_signal and self._previous_handler is not None:
            signal.signal(signal.SIGUSR1, self._previous_handler)

    def begin(self) -> None:
        """The current thread starts a task."""
        ident = threading.get_ident()
        deadline = time.monotonic() + self.timeout  # a wall-clock step must not move it
        with self._guard:
            self._deadlines[ident] = deadline
            self._working.add(ident)
            earliest = min(self._deadlines.values())
        self.on_kill_after(earliest + self.grace_period)

    def end(self) -> None:
        """The current thread's task is over (also clears a pending interruption)."""
        ident = threading.get_ident()
        with self._guard:
            self._working.discard(ident)
            self._deadlines.pop(ident, None)
            self._interrupted.discard(ident)
            empty = not self._deadlines
        if empty:
            self.on_kill_after(0.0)

    def _on_signal(self, _signum: int, _frame: types.FrameType | None) -> None:
        if threading.get_ident() in self._working:
            raise WorkerTimedout()

    def _interrupt(self, ident: int) -> None:
        if self._use_signal and ident == self._main:
            signal.pthread_kill(ident, signal.SIGUSR1)
        else:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(ident), ctypes.py_object(WorkerTimedout)
            )

    def _run(self) -> None:
        while not self._stopped.wait(_TICK):
            now = time.monotonic()
            with self._guard:
                due = [i for i, d in self._deadlines.items() if d <= now]
                overrun = [i for i in due if self._deadlines[i] + self.grace_period <= now]
                fresh = [i for i in due if i not in self._interrupted]
                self._interrupted.update(fresh)
                for ident in fresh:
                    self._interrupt(ident)
            if overrun and not self.supervised:
                self.logger.critical(
                    "a task ran past timeout + grace_period (%.1fs) and would not stop:"
                    " killing this process",
                    self.timeout + self.grace_period,
                )
                os.kill(os.getpid(), signal.SIGKILL)
