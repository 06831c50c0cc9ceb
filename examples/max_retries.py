"""Retry a failing task; past ``max_retries`` it goes to the dead-letter queue.

Run it:  python examples/max_retries.py
Then:    sergeant dead list max_retries --connector local:$TMPDIR/sergeant_examples.sqlite3
"""

from __future__ import annotations

import sergeant
from _storage import connector


class Flaky(sergeant.worker.Worker):
    def generate_config(self) -> sergeant.config.WorkerConfig:
        return sergeant.config.WorkerConfig(
            name="max_retries", connector=connector(), max_retries=3, max_tasks_per_run=4
        )

    def work(self, task: sergeant.objects.Task) -> None:
        raise ConnectionError(f"attempt {task.run_count + 1} failed")

    def on_failure(self, task: sergeant.objects.Task, exception: Exception) -> None:
        print(f"failure: {exception}")
        self.retry(task)

    def on_retry(self, task: sergeant.objects.Task) -> None:
        print(f"retried (run_count is now {task.run_count})")

    def on_max_retries(self, task: sergeant.objects.Task) -> None:
        print(f"gave up after {task.run_count} retries: the task goes to the dead-letter queue")


if __name__ == "__main__":
    worker = Flaky()
    worker.init_broker()
    worker.purge_tasks()
    worker.broker.purge_dead("max_retries")
    worker.push_task(kwargs={"order": 42})
    worker.work_loop()
    for letter in worker.broker.dead_letters("max_retries"):
        print(f"dead letter: {letter.reason}")
