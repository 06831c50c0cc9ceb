"""The worker the kill storm (scenario 1) runs under the supervisor.

It reads its connector, queue and knobs from ``SERGEANT_STORM_*`` environment
variables (set by :mod:`storm_helpers`). Its task's only effect is a record
``{id, pid, deliveries}`` pushed to ``<queue>:ran`` on the same storage before
the task is acked.

Why that record cannot be lost to a SIGKILL: ``queue_push`` returns only once the
storage holds the record (a committed SQLite transaction in WAL mode, which
survives the death of the writing process; a Redis or Mongo server, which is not
the process being killed). A worker killed before the push returns has not acked
its task either, so the task is handed out again and records again: the storm
can add duplicate records, never remove one. A file per worker process would
not do: a SIGKILL can land between ``write`` and the task's ack with the line
still in a userspace buffer, or tear it half-written.
"""

from __future__ import annotations

import json
import os

import msgpack
import sergeant
from sergeant.config import Connector, WorkerConfig

CONNECTOR_ENV = "SERGEANT_STORM_CONNECTOR"
QUEUE_ENV = "SERGEANT_STORM_QUEUE"
OPTIONS_ENV = "SERGEANT_STORM_OPTIONS"


def ran_queue(queue: str) -> str:
    """Where the storm's tasks record their runs."""
    return f"{queue}:ran"


class StormRecorder(sergeant.Worker):
    """Records each run of its task on ``<queue>:ran``; nothing else."""

    def generate_config(self) -> WorkerConfig:
        spec = json.loads(os.environ[CONNECTOR_ENV])
        options = json.loads(os.environ.get(OPTIONS_ENV, "{}"))
        return WorkerConfig(
            name=os.environ[QUEUE_ENV],
            connector=Connector(type=spec["type"], params=spec["params"]),
            tasks_per_transaction=options["tasks_per_transaction"],
            lease_seconds=options["lease_seconds"],
            max_deliveries=options["max_deliveries"],
        )

    def work(self, task: sergeant.Task) -> None:
        self.broker.connector.queue_push(
            ran_queue(self.config.name),
            msgpack.packb(
                {
                    "id": task.kwargs["id"],
                    "pid": os.getpid(),
                    "deliveries": self.current.item.deliveries,
                }
            ),
        )
