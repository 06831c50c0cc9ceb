"""The worker scenarios 7 to 13 run in their own processes (under the supervisor,
or alone: ``python scenario_workers.py``).

Its connector, queue and settings come from ``SERGEANT_SCENARIO_*`` environment
variables (set by :mod:`scenario_support`). Each run of a task pushes the record
``{id, pid, deliveries, started, ended}`` to ``<queue>:ran`` on the same
storage (or on the one ``SERGEANT_SCENARIO_SINK`` names) before the task is
acked (see :mod:`storm_workers` for why that record survives any kill). A
task's kwargs may ask it to hold the GIL (``gil_loops``: the length of a
``sum(range(...))`` in C, which never releases the GIL) or to sleep.
"""

from __future__ import annotations

import json
import os
import time

import msgpack
import sergeant
from sergeant.config import Connector, Encoder, Timeouts, WorkerConfig

CONNECTOR_ENV = "SERGEANT_SCENARIO_CONNECTOR"
QUEUE_ENV = "SERGEANT_SCENARIO_QUEUE"
OPTIONS_ENV = "SERGEANT_SCENARIO_OPTIONS"
#: Optional: where records go instead (a storage the scenario does not break).
SINK_ENV = "SERGEANT_SCENARIO_SINK"


def ran_queue(queue: str) -> str:
    """Where the scenario's tasks record their runs."""
    return f"{queue}:ran"


class ScenarioRecorder(sergeant.Worker):
    """Records each run of its task on ``<queue>:ran``."""

    def generate_config(self) -> WorkerConfig:
        spec = json.loads(os.environ[CONNECTOR_ENV])
        options = dict(json.loads(os.environ.get(OPTIONS_ENV, "{}")))
        encoder = options.pop("encoder", None)
        if "timeout" in options:
            options["timeouts"] = Timeouts(timeout=options.pop("timeout"))
        return WorkerConfig(
            name=os.environ[QUEUE_ENV],
            connector=Connector(type=spec["type"], params=spec["params"]),
            encoder=Encoder(**encoder) if encoder else Encoder(),
            **options,
        )

    _sink: sergeant.Connector | None = None

    def _records(self) -> sergeant.Connector:
        if SINK_ENV not in os.environ:
            return self.broker.connector
        if self._sink is None:
            spec = json.loads(os.environ[SINK_ENV])
            self._sink = sergeant.connect(Connector(type=spec["type"], params=spec["params"]))
        return self._sink

    def work(self, task: sergeant.Task) -> None:
        started = time.time()
        if task.kwargs.get("gil_loops"):
            sum(range(int(task.kwargs["gil_loops"])))  # C code: the GIL is never released
        if task.kwargs.get("sleep"):
            time.sleep(float(task.kwargs["sleep"]))
        self._records().queue_push(
            ran_queue(self.config.name),
            msgpack.packb(
                {
                    "id": task.kwargs["id"],
                    "pid": os.getpid(),
                    "deliveries": self.current.item.deliveries,
                    "started": started,
                    "ended": time.time(),
                }
            ),
        )


if __name__ == "__main__":  # an unsupervised worker: ``python scenario_workers.py``
    print(json.dumps(ScenarioRecorder().work_loop(), default=str), flush=True)
