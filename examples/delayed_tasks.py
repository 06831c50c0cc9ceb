"""Delay a task with ``consumable_from``; HIGH priority tasks run before NORMAL ones.

Run it:  python examples/delayed_tasks.py
"""

from __future__ import annotations

import time

import sergeant
from _storage import connector


class Scheduler(sergeant.worker.Worker):
    def generate_config(self) -> sergeant.config.WorkerConfig:
        return sergeant.config.WorkerConfig(
            name="delayed_tasks", connector=connector(), max_tasks_per_run=3
        )

    def work(self, task: sergeant.objects.Task) -> None:
        waited = time.time() - task.date
        print(f"{task.kwargs['what']:>20}: ran {waited:.1f}s after it was pushed")


if __name__ == "__main__":
    worker = Scheduler()
    worker.init_broker()
    worker.purge_tasks()
    worker.push_task(kwargs={"what": "in two seconds"}, consumable_from=time.time() + 2)
    worker.push_task(kwargs={"what": "normal, now"})
    worker.push_task(kwargs={"what": "high priority, now"}, priority="HIGH")
    print(
        f"ready now: {worker.number_of_enqueued_tasks()}, "
        f"with delayed: {worker.number_of_enqueued_tasks(include_delayed=True)}"
    )
    worker.work_loop()
