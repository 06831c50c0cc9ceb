"""Worker throughput on a 3-primary Redis Cluster against one redis-server.

Run by hand (not in CI), from the repo root with the dev venv::

    .dev/bin/python bench/cluster_bench.py --runs 3 --markdown

Each measurement is a fresh child process (``_worker_bench_child.py``, as in
``worker_bench.py``): it pushes N tasks with ``push_tasks`` and then runs
``work_loop`` (empty ``work``, at-least-once) until it has consumed them, with
``tasks_per_transaction`` 1 (``--n`` tasks) and 1,000 (``--n-bulk``). The
cluster is six ``redis-server --cluster-enabled yes`` (3 primaries, a replica
each, so every write is also replicated) on loopback; the single node is one
plain ``redis-server``. Sides take turns run by run; figures are medians:
tasks/s, the worker's CPU µs per task and the servers' (``INFO cpu`` of each,
summed: on the cluster all six, the replicas' replication included).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from worker_bench import load_average, measure  # noqa: E402

FIGURES = ("push_per_s", "producer_cpu_us", "consume_per_s", "worker_cpu_us", "server_cpu_us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--n-bulk", type=int, default=200_000)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    from sergeant_test_support.cluster_fixtures import RedisCluster
    from sergeant_test_support.redis_fixtures import RedisServer

    tmp = Path(tempfile.mkdtemp(prefix="cluster-bench-"))
    single = RedisServer(tmp / "single").start()
    cluster = RedisCluster(tmp / "cluster").start()
    sides = {
        "one node": {"nodes": [single.node()]},
        "cluster, 3 primaries": cluster.params(),
    }
    servers = {
        "one node": [single],
        "cluster, 3 primaries": cluster.servers,
    }
    rows: list[dict[str, Any]] = []
    loads = [load_average()]
    try:
        for tpt, n in ((1, args.n), (1000, args.n_bulk)):
            samples: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
            for run in range(args.runs):
                order = list(sides) if run % 2 == 0 else list(sides)[::-1]
                for side in order:
                    spec = {
                        "backend": "redis",
                        "n": n,
                        "tpt": tpt,
                        "options": {"delivery": "at_least_once"},
                        "params": sides[side],
                        "servers": [
                            {"host": s.host, "port": s.port, "pid": s.pid} for s in servers[side]
                        ],
                    }
                    samples[side].append(measure(sys.executable, spec))
            for side, runs in samples.items():
                medians = {key: statistics.median(s[key] for s in runs) for key in FIGURES}
                rows.append({"side": side, "tasks_per_transaction": tpt, "n": n, **medians})
                print(
                    f"tpt={tpt:<5} {side:22} {medians['consume_per_s']:>9,.0f}/s consumed  "
                    f"{medians['push_per_s']:>9,.0f}/s pushed  worker "
                    f"{medians['worker_cpu_us']:6.1f} µs/task  servers "
                    f"{medians['server_cpu_us']:6.2f} µs/task",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        cluster.stop()
        single.stop()
    loads.append(load_average())
    if args.markdown:
        print(f"medians of {args.runs} runs; load average before/after: {loads}\n")
        print(
            "| tasks per transaction | side | consumed/s | worker CPU µs/task "
            "| servers' CPU µs/task | pushed/s |"
        )
        print("|---:|---|---:|---:|---:|---:|")
        for row in rows:
            print(
                f"| {row['tasks_per_transaction']:,} | {row['side']} | "
                f"{row['consume_per_s']:,.0f} | {row['worker_cpu_us']:.1f} | "
                f"{row['server_cpu_us']:.2f} | {row['push_per_s']:,.0f} |"
            )
    else:
        print(json.dumps({"rows": rows, "load_average_before_after": loads}, indent=2))


if __name__ == "__main__":
    main()
