"""A lock shared by every worker on the same storage: one holder at a time.

Run it:  python examples/locks.py
Four threads compete for one lock; each holds it in turn.
"""

from __future__ import annotations

import threading
import time

import sergeant
from _storage import connector


class Accountant(sergeant.worker.Worker):
    def generate_config(self) -> sergeant.config.WorkerConfig:
        return sergeant.config.WorkerConfig(
            name="locks",
            connector=connector(),
            number_of_threads=4,
            tasks_per_transaction=4,
            max_tasks_per_run=4,
        )

    def work(self, task: sergeant.objects.Task) -> None:
        lock = self.lock("ledger")
        if lock.acquire(timeout=10, check_interval=0.05, ttl=30):
            try:
                print(f"task {task.kwargs['n']} holds the ledger lock")
                time.sleep(0.2)
            finally:
                lock.release()
        else:
            self.requeue(task)


if __name__ == "__main__":
    worker = Accountant()
    worker.init_broker()
    worker.purge_tasks()
    worker.push_tasks(kwargs_list=[{"n": i} for i in range(4)])
    worker.work_loop()
    print(f"lock still held: {worker.lock('ledger').is_locked()} ({threading.active_count()})")
