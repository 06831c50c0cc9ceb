"""Work tasks on several threads of one process (for I/O-bound work).

Run it:  python examples/threads.py
32 tasks of half a second each take about 2 seconds on 8 threads.
"""

from __future__ import annotations

import threading
import time

import sergeant
from _storage import connector


class Downloader(sergeant.worker.Worker):
    def generate_config(self) -> sergeant.config.WorkerConfig:
        return sergeant.config.WorkerConfig(
            name="threads",
            connector=connector(),
            number_of_threads=8,
            tasks_per_transaction=8,
            max_tasks_per_run=32,
        )

    def work(self, task: sergeant.objects.Task) -> str:
        time.sleep(0.5)  # waiting on the network
        return threading.current_thread().name


if __name__ == "__main__":
    worker = Downloader()
    worker.init_broker()
    worker.purge_tasks()
    worker.push_tasks(kwargs_list=[{"file": i} for i in range(32)])
    started = time.perf_counter()
    summary = worker.work_loop()
    elapsed = time.perf_counter() - started
    print(f"{summary['counters'].done} tasks in {elapsed:.1f}s on 8 threads")
