"""A producer for scenario 13: pushes tasks to a local file until a push fails.

Usage: ``python storage_gone_producer.py FILE QUEUE``. Prints ``pushed <id> <time>``
after each push that returned, and ``error <type>: <message>`` before exiting
with status 3 on the first failure.
"""

from __future__ import annotations

import sys
import time

from sergeant.broker import Broker
from sergeant.errors import SergeantError
from sergeant.task import Task
from sergeant_local import LocalConnector


def main(file_path: str, queue: str) -> int:
    broker = Broker(LocalConnector(file_path=file_path))
    for number in range(10**9):
        try:
            broker.push_task(queue, Task(kwargs={"id": number}))
        except SergeantError as exc:
            print(f"error {type(exc).__name__}: {exc}", flush=True)
            return 3
        print(f"pushed {number} {time.time()}", flush=True)
        time.sleep(0.005)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
