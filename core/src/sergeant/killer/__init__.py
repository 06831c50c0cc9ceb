"""``sergeant.killer``: what enforces a task's timeout.

:class:`Watchdog` watches the deadline of every running task of a worker
process: past ``timeouts.timeout`` it interrupts the task with
:class:`~sergeant.worker.WorkerTimedout` (a signal on the main thread, an
asynchronous exception on another), and past ``grace_period`` more it tells the
supervisor, which kills and replaces the process. Sergeant's thread and process
killers are both this class.
"""

from __future__ import annotations

from sergeant.killer._watchdog import Watchdog

__all__ = ["Watchdog"]
