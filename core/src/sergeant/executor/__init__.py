"""``sergeant.executor``: what runs a worker's tasks.

:class:`Runner` is the loop :meth:`sergeant.worker.Worker.work_loop` hands
control to: it takes batches from the broker (reserved under a lease, or popped
at most once), runs each task on the worker's thread or on a pool of
``number_of_threads`` threads, calls the handlers, and settles every task
(ack, retry, requeue, dead-letter). Sergeant's ``SerialExecutor`` and
``ThreadedExecutor`` are both this class: ``number_of_threads`` chooses.
"""

from __future__ import annotations

from sergeant.executor._runner import Runner

__all__ = ["Runner"]
