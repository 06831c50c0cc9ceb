"""One worker-benchmark measurement, run as a child process by ``worker_bench.py``.

The same code runs under Sergeant 0.27.0 and under ours: it only uses
Sergeant's documented API (``Worker``, ``WorkerConfig``, ``push_tasks``,
``work_loop``), which is itself a compatibility check. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import sergeant
import sergeant.config
import sergeant.worker

SPEC: dict[str, Any] = json.loads(sys.argv[1])


class Bench(sergeant.worker.Worker):
    def generate_config(self) -> Any:
        options: dict[str, Any] = {
            "name": SPEC["queue"],
            "connector": sergeant.config.Connector(type=SPEC["backend"], params=SPEC["params"]),
            "max_tasks_per_run": SPEC["n"],
            "tasks_per_transaction": SPEC["tpt"],
            "encoder": sergeant.config.Encoder(serializer="msgpack"),
        }
        options.update(SPEC["options"])  # ours only: delivery, prefetch_under
        return sergeant.config.WorkerConfig(**options)

    def work(self, task: Any) -> None:
        pass


def main() -> None:
    worker = Bench()
    worker.init_worker()
    worker.purge_tasks()
    kwargs_list = [{"i": i} for i in range(SPEC["n"])]
    started = time.perf_counter()
    worker.push_tasks(kwargs_list=kwargs_list)
    push_seconds = time.perf_counter() - started
    result = {"push_per_s": SPEC["n"] / push_seconds}
    if SPEC["consume"]:
        started = time.perf_counter()
        worker.work_loop()
        consume_seconds = time.perf_counter() - started
        left = worker.number_of_enqueued_tasks()
        if left:
            raise SystemExit(f"{left} tasks left unconsumed")
        result["consume_per_s"] = SPEC["n"] / consume_seconds
    print(json.dumps(result))


if __name__ == "__main__":
    main()
