"""One producer, one consumer: the smallest complete example.

Run it:  python examples/single_consumer.py
Or push with this file and consume under the supervisor:
    sergeant worker examples/single_consumer.py:Consumer --concurrency 1
"""

from __future__ import annotations

import sergeant
from _storage import connector


class Consumer(sergeant.worker.Worker):
    def generate_config(self) -> sergeant.config.WorkerConfig:
        return sergeant.config.WorkerConfig(
            name="single_consumer",
            connector=connector(),
            max_tasks_per_run=10,
            logging=sergeant.config.Logging(log_to_stdout=True),
        )

    def work(self, task: sergeant.objects.Task) -> str:
        url = task.kwargs["url"]
        print(f"fetching {url}")
        return url

    def on_success(self, task: sergeant.objects.Task, returned_value: object) -> None:
        print(f"done: {returned_value}")


if __name__ == "__main__":
    producer = Consumer()
    producer.init_broker()
    producer.purge_tasks()
    producer.push_tasks(kwargs_list=[{"url": f"https://example.com/{i}"} for i in range(10)])
    print(f"{producer.number_of_enqueued_tasks()} tasks enqueued")
    summary = producer.work_loop()  # stops after max_tasks_per_run=10
    print(f"left in the queue: {producer.number_of_enqueued_tasks()}")
