"""End-to-end worker throughput: ours against Sergeant 0.27.0, on Redis and local SQLite.

Run by hand (not in CI), from the repo root with the dev venv::

    .venv/bin/python bench/worker_bench.py                  # N = 100,000, 3 runs
    .venv/bin/python bench/worker_bench.py --n 20000 --runs 5 --backends local
    .venv/bin/python bench/worker_bench.py --markdown       # the table for docs/

Each measurement is a fresh child process (``_worker_bench_child.py``) that
pushes N tasks with ``push_tasks`` (timed: production) and then runs
``work_loop`` with an empty ``work`` until it has consumed them (timed:
consumption), with ``tasks_per_transaction`` 1 and 1,000. Ours runs
at-least-once (reserve, work, ack; on Redis also without prefetching) and, for
reference, at-most-once; Sergeant runs its only mode, at-most-once pops. Both
use msgpack. Redis is a redis-server started here on a free loopback port.
Figures are tasks per second, the median of ``--runs`` runs; ratios are ours /
Sergeant's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import sergeant_venv  # noqa: E402

CHILD = HERE / "_worker_bench_child.py"


def measure(python: str, spec: dict[str, Any]) -> dict[str, float]:
    spec = {**spec, "queue": f"bench-{uuid.uuid4().hex[:8]}"}
    result = subprocess.run(
        [python, str(CHILD), json.dumps(spec)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"measurement failed: {spec}\n{result.stderr[-2000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def params_for(backend: str, tmp: Path, redis_node: dict[str, Any] | None) -> dict[str, Any]:
    if backend == "redis":
        assert redis_node is not None
        return {"nodes": [redis_node]}
    return {"file_path": str(tmp / f"{uuid.uuid4().hex[:8]}.sqlite3")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="redis,local")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()

    baseline = str(sergeant_venv.ensure())
    ours = sys.executable
    tmp = Path(tempfile.mkdtemp(prefix="sergeant-worker-bench-"))
    redis_server = None
    redis_node = None
    if "redis" in args.backends.split(","):
        from sergeant_test_support.redis_fixtures import RedisServer

        redis_server = RedisServer(tmp / "redis").start()
        redis_node = redis_server.node()
    rows = []
    try:
        for backend in args.backends.split(","):
            variants: list[tuple[str, str, dict[str, Any]]] = [
                ("sergeant 0.27.0 (at-most-once)", baseline, {}),
                ("ours at-least-once", ours, {"delivery": "at_least_once"}),
                ("ours at-most-once", ours, {"delivery": "at_most_once"}),
            ]
            if backend == "redis":  # the only built-in backend that prefetches
                variants.insert(
                    2,
                    (
                        "ours at-least-once, no prefetch",
                        ours,
                        {"delivery": "at_least_once", "prefetch_under": 0},
                    ),
                )
            for tpt in (1, 1000):
                # The variants take turns run by run, so a slow spell of the shared
                # machine hits all of them rather than one.
                samples: dict[str, list[dict[str, float]]] = {label: [] for label, *_ in variants}
                for _ in range(args.runs):
                    for label, python, options in variants:
                        spec = {
                            "backend": backend,
                            "params": params_for(backend, tmp, redis_node),
                            "n": args.n,
                            "tpt": tpt,
                            "consume": True,
                            "options": options,
                        }
                        samples[label].append(measure(python, spec))
                figures: dict[str, dict[str, float]] = {}
                for label, *_ in variants:
                    runs = samples[label]
                    figures[label] = {
                        key: statistics.median(s[key] for s in runs) for key in runs[0]
                    }
                    print(
                        f"{backend:6} tpt={tpt:<5} {label:32} "
                        f"push {figures[label]['push_per_s']:>10,.0f}/s  "
                        f"consume {figures[label]['consume_per_s']:>10,.0f}/s",
                        file=sys.stderr,
                        flush=True,
                    )
                rows.append((backend, tpt, figures))
    finally:
        if redis_server is not None:
            redis_server.stop()

    base_label = "sergeant 0.27.0 (at-most-once)"
    lines = [
        f"N = {args.n:,} tasks, median of {args.runs} runs, tasks per second.",
        "",
        "| backend | tasks/txn | variant | push_tasks | vs Sergeant | consume | vs Sergeant |",
        "|---|---|---|---|---|---|---|",
    ]
    for backend, tpt, figures in rows:
        base = figures[base_label]
        for label, values in figures.items():
            push_ratio = values["push_per_s"] / base["push_per_s"]
            ratio = values["consume_per_s"] / base["consume_per_s"]
            lines.append(
                f"| {backend} | {tpt} | {label} | {values['push_per_s']:,.0f} | {push_ratio:.2f}x "
                f"| {values['consume_per_s']:,.0f} | {ratio:.2f}x |"
            )
    print("\n".join(lines) if args.markdown else json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
