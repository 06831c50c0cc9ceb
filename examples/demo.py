"""The main job: 10,000 tasks consumed by 2 worker processes, with a summary.

``scripts/demo`` runs it. By hand::

    python examples/demo.py 10000                       # push the tasks
    sergeant worker examples/demo.py:DemoWorker --concurrency 2

Every 500th task fails once and succeeds on retry; every 2,000th always fails
and ends in the dead-letter queue after ``max_retries``. Both processes stop
once the queue has been empty for a second.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile

import sergeant

QUEUE = "demo"


def connector() -> sergeant.config.Connector:
    default = os.path.join(tempfile.gettempdir(), "sergeant_demo.sqlite3")
    return sergeant.config.Connector(
        type="local", params={"file_path": os.environ.get("SERGEANT_DEMO_DB", default)}
    )


class DemoWorker(sergeant.worker.Worker):
    def generate_config(self) -> sergeant.config.WorkerConfig:
        return sergeant.config.WorkerConfig(
            name=QUEUE,
            connector=connector(),
            tasks_per_transaction=100,
            max_retries=2,
            starvation=sergeant.config.Starvation(time_with_no_tasks=1),
        )

    def work(self, task: sergeant.objects.Task) -> str:
        n = task.kwargs["n"]
        if n % 2000 == 1999 or (n % 500 == 499 and task.run_count == 0):
            raise RuntimeError(f"task {n} failed")
        return hashlib.sha256(str(n).encode()).hexdigest()

    def on_failure(self, task: sergeant.objects.Task, exception: Exception) -> None:
        self.retry(task)

    def on_starvation(self, time_with_no_tasks: int) -> None:
        self.stop()


def push(count: int) -> None:
    producer = DemoWorker()
    producer.init_broker()
    producer.purge_tasks()
    producer.broker.purge_dead(QUEUE)
    producer.push_tasks(kwargs_list=[{"n": n} for n in range(count)])
    print(f"pushed {producer.number_of_enqueued_tasks()} tasks to {QUEUE!r}")
    producer.close()


if __name__ == "__main__":
    push(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
