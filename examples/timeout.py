"""A task running past ``timeouts.timeout`` is interrupted and ``on_timeout`` runs.

Run it:  python examples/timeout.py
If a task ignored the interruption, the supervisor would kill and replace its
process after ``grace_period`` more seconds.
"""

from __future__ import annotations

import time

import sergeant
from _storage import connector


class Sleeper(sergeant.worker.Worker):
    def generate_config(self) -> sergeant.config.WorkerConfig:
        return sergeant.config.WorkerConfig(
            name="timeout",
            connector=connector(),
            max_tasks_per_run=2,
            timeouts=sergeant.config.Timeouts(timeout=1.0, grace_period=5.0),
        )

    def work(self, task: sergeant.objects.Task) -> None:
        print(f"sleeping {task.kwargs['seconds']}s")
        time.sleep(task.kwargs["seconds"])

    def on_success(self, task: sergeant.objects.Task, returned_value: object) -> None:
        print(f"finished a {task.kwargs['seconds']}s task")

    def on_timeout(self, task: sergeant.objects.Task) -> None:
        print(f"a {task.kwargs['seconds']}s task timed out after 1s")


if __name__ == "__main__":
    worker = Sleeper()
    worker.init_broker()
    worker.purge_tasks()
    worker.push_tasks(kwargs_list=[{"seconds": 0.2}, {"seconds": 30}])
    worker.work_loop()
