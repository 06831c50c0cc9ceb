"""Child process of the torn-write scenario: ONE ``queue_push_bulk`` of a whole batch.

Usage: ``python faults_push_child.py FILE QUEUE BATCH COUNT SIZE``. Prints
``calling`` just before the call and ``done`` once it returned, so the parent
can time its SIGKILL and tell afterwards where it landed.
"""

from __future__ import annotations

import sys

import sergeant
from faults_storage import batch_items
from sergeant.config import Connector


def main(argv: list[str]) -> int:
    path, queue, batch, count, size = argv
    items = batch_items(int(batch), int(count), int(size))
    with sergeant.connect(Connector(type="local", params={"file_path": path})) as connector:
        print("calling", flush=True)
        connector.queue_push_bulk(queue, items)
        print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
