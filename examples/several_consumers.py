"""Several consumer processes under the supervisor share one queue.

Run it:  python examples/several_consumers.py
which pushes 1,000 tasks and runs the equivalent of
    sergeant worker examples/several_consumers.py:Consumer --concurrency 4
Every process stops once the queue has been empty for a second.
"""

from __future__ import annotations

import os

import sergeant
from _storage import connector


class Consumer(sergeant.worker.Worker):
    def generate_config(self) -> sergeant.config.WorkerConfig:
        return sergeant.config.WorkerConfig(
            name="several_consumers",
            connector=connector(),
            tasks_per_transaction=20,
            starvation=sergeant.config.Starvation(time_with_no_tasks=1),
        )

    def work(self, task: sergeant.objects.Task) -> None:
        self.seen = getattr(self, "seen", 0) + 1

    def on_starvation(self, time_with_no_tasks: int) -> None:
        print(f"process {os.getpid()} worked {getattr(self, 'seen', 0)} tasks")
        self.stop()


if __name__ == "__main__":
    from sergeant.supervisor import Supervisor

    producer = Consumer()
    producer.init_broker()
    producer.purge_tasks()
    producer.push_tasks(kwargs_list=[{"n": i} for i in range(1000)])
    raise SystemExit(Supervisor(__file__, "Consumer", concurrent_workers=4).start())
