"""``sergeant.killer``: what enforces a task's timeout.

:class:`Watchdog` watches the deadline of every running task of a worker
process: past ``timeouts.timeout`` it interrupts the task with
:class:`~sergeant.worker.WorkerTimedout` (a signal on the main thread, an
asynchronous exception on another), and past ``grace_period`` more it tells the
supervisor, which kills and replaces the process.

Sergeant 0.27.0's names: ``sergeant.killer.thread.Killer`` (an asynchronous
exception per thread) and ``sergeant.killer.process.Killer`` (a helper process
sending SIGUSR1, then SIGKILL) are both this class, run by the worker whenever
``timeouts.timeout`` is set. They are not provided under Sergeant's names: the
watchdog is started and fed by the runner, and killing a stuck process is the
supervisor's job, so a free-standing killer object would do nothing real.
"""

from __future__ import annotations

from sergeant.killer._watchdog import Watchdog

__all__ = ["Watchdog"]
