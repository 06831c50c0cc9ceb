"""``sergeant.executor``: what runs a worker's tasks.

:class:`Runner` is the loop :meth:`sergeant.worker.Worker.work_loop` hands
control to: it takes batches from the broker (reserved under a lease, or popped
at most once), runs each task on the worker's thread or on a pool of
``number_of_threads`` threads, calls the handlers, and settles every task
(ack, retry, requeue, dead-letter).

Sergeant 0.27.0's names: ``sergeant.executor.serial.SerialExecutor`` and
``sergeant.executor.threaded.ThreadedExecutor`` are both this class, and the
worker config chooses (``number_of_threads=1`` runs tasks on the worker's
thread, more runs them on a pool). They are not provided under Sergeant's
names: Sergeant's ``execute_tasks(tasks)`` ran already-popped tasks, while the
runner owns fetching, leases and acks, so no call of that shape could keep
at-least-once delivery. What Sergeant's ``get_current_task()`` gave is
``worker.current.item.task`` on the thread running it.
"""

from __future__ import annotations

from sergeant.executor._runner import Runner

__all__ = ["Runner"]
