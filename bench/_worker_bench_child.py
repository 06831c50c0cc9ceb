"""One worker-benchmark measurement, run as a child process by ``worker_bench.py``.

The same code runs under Sergeant 0.27.0 and under ours: it only uses
Sergeant's documented API (``Worker``, ``WorkerConfig``, ``push_tasks``,
``work_loop``), which is itself a compatibility check. Prints one JSON line:
rates, CPU per task of this process (the producer while it pushes, the worker
while it consumes: ``time.process_time``, all threads) and of the redis-servers
(their getrusage utime + stime, read by ``INFO cpu`` and from ``/proc/PID/stat``)
over each timed phase, and the install that
ran (redis-py, hiredis, the reply parser in use).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from importlib import metadata
from typing import Any

SPEC: dict[str, Any] = json.loads(sys.argv[1])

if SPEC.get("block_hiredis"):
    # A plain install without the C parser: hiredis cannot be imported.
    sys.modules["hiredis"] = None  # type: ignore[assignment]

import sergeant  # noqa: E402
import sergeant.config  # noqa: E402
import sergeant.worker  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def _proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        # Fields after the command name, which is in parentheses and may hold spaces.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


_info_clients: list[Any] = []


def server_cpu_seconds() -> tuple[float, float]:
    """The redis-servers' CPU time so far, (from INFO cpu, from /proc); zeros for local.

    The servers are ``SPEC["servers"]`` (``{"host", "port", "pid"}`` each: every
    member of a cluster) or the one of ``SPEC["server_pid"]``. Both figures are
    getrusage utime + stime, summed; ``/proc/PID/stat`` counts in clock ticks
    (10 ms), INFO in microseconds, which matters when a phase costs the server
    0.1 s. One INFO call costs a server a few µs, not per task.
    """
    servers = SPEC.get("servers")
    if servers is None and SPEC.get("server_pid"):
        node = SPEC["params"]["nodes"][0]
        servers = [{"host": node["host"], "port": node["port"], "pid": SPEC["server_pid"]}]
    if not servers:
        return 0.0, 0.0
    if not _info_clients:
        import redis

        _info_clients.extend(redis.Redis(host=s["host"], port=s["port"]) for s in servers)
    info = 0.0
    for client in _info_clients:
        cpu = client.info("cpu")
        info += float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
    return info, sum(_proc_cpu_seconds(s["pid"]) for s in servers)


def version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def install() -> dict[str, Any]:
    """What this process runs: versions, and whether redis-py parses replies in C."""
    found: dict[str, Any] = {
        "python": platform.python_version(),
        "sergeant": version("sergeant"),
        "sergeant-redis": version("sergeant-redis"),
        "sergeant-local": version("sergeant-local"),
        "redis": version("redis"),
        "hiredis": None,
        "msgpack": version("msgpack"),
        "reply_parser": None,
    }
    try:
        import hiredis

        found["hiredis"] = hiredis.__version__
    except ImportError:
        pass
    try:
        import redis.connection

        found["reply_parser"] = redis.connection.DefaultParser.__name__
    except ImportError:
        pass
    return found


#: With ``SPEC["kept"]``: tasks waiting at the start, and pushed per top-up.
FEED = 1000


class Feeder:
    """Keeps 1,000 to 2,000 tasks waiting: workers that keep up with their
    producers. After every 1,000th task the worker runs it pushes the next 1,000
    itself (before its next reserve, so the queue never runs dry); the CPU those
    pushes take, the worker's and the server's (``INFO cpu`` around each: a
    few µs of its own per push, on both sides alike), is counted apart and left
    out of the consumption's figures."""

    def __init__(self, worker: Any, kwargs_list: list[dict[str, Any]]) -> None:
        self.worker, self.kwargs_list = worker, kwargs_list
        self.pushed = self.consumed = 0
        self.push_cpu = self.push_server_cpu = 0.0

    def push(self, count: int) -> None:
        chunk = self.kwargs_list[self.pushed : self.pushed + count]
        self.worker.push_tasks(kwargs_list=chunk)
        self.pushed += len(chunk)

    def after_task(self) -> None:
        self.consumed += 1
        if self.consumed % FEED == 0 and self.pushed < len(self.kwargs_list):
            started, (server, _) = time.process_time(), server_cpu_seconds()
            self.push(FEED)
            self.push_cpu += time.process_time() - started
            self.push_server_cpu += server_cpu_seconds()[0] - server


FEEDER: Feeder | None = None


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
        if FEEDER is not None:
            FEEDER.after_task()


def timed(run: Any) -> tuple[float, float, float, float]:
    """Wall seconds, this process's CPU seconds and the server's (INFO, /proc) of ``run()``."""
    cpu, (server, server_proc) = time.process_time(), server_cpu_seconds()
    started = time.perf_counter()
    run()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    server_after, server_proc_after = server_cpu_seconds()
    return wall, cpu, server_after - server, server_proc_after - server_proc


def main() -> None:
    global FEEDER
    n = SPEC["n"]
    worker = Bench()
    worker.init_worker()
    worker.purge_tasks()
    kwargs_list = [{"i": i} for i in range(n)]
    if SPEC.get("kept"):
        feeder = FEEDER = Feeder(worker, kwargs_list)
        first = min(n, 2 * FEED)
        wall, cpu, server, _ = timed(lambda: feeder.push(first))
        pushed_first = first
    else:
        wall, cpu, server, _ = timed(lambda: worker.push_tasks(kwargs_list=kwargs_list))
        pushed_first = n
    result: dict[str, Any] = {
        "push_per_s": pushed_first / wall,
        "producer_cpu_us": cpu / pushed_first * 1e6,
        "push_server_cpu_us": server / pushed_first * 1e6,
    }
    wall, cpu, server, server_proc = timed(worker.work_loop)
    if FEEDER is not None:
        cpu -= FEEDER.push_cpu
        server -= FEEDER.push_server_cpu
    left = worker.number_of_enqueued_tasks()
    if left:
        raise SystemExit(f"{left} tasks left unconsumed")
    result.update(
        consume_per_s=n / wall,
        worker_cpu_us=cpu / n * 1e6,
        server_cpu_us=server / n * 1e6,
        server_cpu_us_proc=server_proc / n * 1e6,
        install=install(),
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
