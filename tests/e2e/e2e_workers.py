"""Worker classes the end-to-end tests run in real processes.

Each reads its connector, queue and knobs from the environment (set by the
``processes`` fixture), and records every run it finishes on ``<queue>:ran`` as
msgpack ``{id, pid, deliveries, run_count}`` before its task is acked, so a test
can see what ran, where, and how many times it had been handed out.
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import msgpack
import sergeant
from sergeant.config import Connector, Starvation, Timeouts, WorkerConfig


def options() -> dict[str, Any]:
    return dict(json.loads(os.environ.get("SERGEANT_E2E_OPTIONS", "{}")))


def connector() -> Connector:
    spec = json.loads(os.environ["SERGEANT_E2E_CONNECTOR"])
    return Connector(type=spec["type"], params=spec["params"])


def base_config() -> WorkerConfig:
    opts = options()
    return WorkerConfig(
        name=os.environ["SERGEANT_E2E_QUEUE"],
        connector=connector(),
        tasks_per_transaction=opts.get("tasks_per_transaction", 1),
        number_of_threads=opts.get("number_of_threads", 1),
        lease_seconds=opts.get("lease_seconds", 30.0),
        max_deliveries=opts.get("max_deliveries", 5),
        max_tasks_per_run=opts.get("max_tasks_per_run", 0),
        timeouts=Timeouts(
            timeout=opts.get("timeout", 0.0), grace_period=opts.get("grace_period", 10.0)
        ),
        starvation=Starvation(opts["starve_after"]) if "starve_after" in opts else None,
    )


class Recorder(sergeant.Worker):
    """Sleeps ``kwargs['sleep']`` seconds (``sleep_first``: on the first delivery only),
    announces its pid on ``<queue>:started`` (``announce``), SIGKILLs itself on ``poison``,
    and records each finished run on ``<queue>:ran``. Stops when starved (if set)."""

    def generate_config(self) -> WorkerConfig:
        return base_config()

    def work(self, task: sergeant.Task) -> None:
        kwargs = task.kwargs
        item = self.current.item
        first = item.deliveries == 1
        if kwargs.get("announce") and first:
            self.broker.connector.queue_push(
                f"{self.config.name}:started",
                msgpack.packb({"id": kwargs["id"], "pid": os.getpid()}),
            )
        if kwargs.get("poison"):
            os.kill(os.getpid(), signal.SIGKILL)
        if kwargs.get("sleep"):
            time.sleep(kwargs["sleep"])
        if kwargs.get("sleep_first") and first:
            time.sleep(kwargs["sleep_first"])
        self.broker.connector.queue_push(
            f"{self.config.name}:ran",
            msgpack.packb(
                {
                    "id": kwargs.get("id"),
                    "pid": os.getpid(),
                    "deliveries": item.deliveries,
                    "run_count": task.run_count,
                }
            ),
        )

    def on_starvation(self, time_with_no_tasks: int) -> None:
        self.stop()


class Stubborn(sergeant.Worker):
    """Its task swallows the timeout interruption and keeps sleeping."""

    def generate_config(self) -> WorkerConfig:
        return base_config()

    def work(self, task: sergeant.Task) -> None:
        try:
            time.sleep(30)
        except BaseException:
            time.sleep(30)
