"""End-to-end worker throughput and CPU per task: ours against Sergeant 0.27.0, on Redis and local.

Run by hand (not in CI), from the repo root with the dev venv::

    .dev/bin/python bench/worker_bench.py --markdown             # idle and busy, 3 runs
    .dev/bin/python bench/worker_bench.py --load busy --runs 5 --json
    .dev/bin/python bench/worker_bench.py --backends local --n 20000 --n-bulk 100000

Each measurement is a fresh child process (``_worker_bench_child.py``) that
pushes N tasks with ``push_tasks`` (timed: production) and then runs
``work_loop`` with an empty ``work`` until it has consumed them (timed:
consumption), with ``tasks_per_transaction`` 1 (``--n`` tasks) and 1,000
(``--n-bulk`` tasks; on local ``--n-bulk-local``, as Sergeant's local
``push_tasks`` commits task by task). Ours runs at-least-once (reserve, work, ack; on Redis also
without prefetching) and at-most-once; Sergeant 0.27.0 (its plain install, built
by ``sergeant_venv.py``) runs its only mode, at-most-once pops. Both use msgpack.
Redis is one redis-server started here on a free loopback port.

Besides tasks/s, every measurement reads CPU time over each timed phase: the
child's own (``time.process_time``: the producer while pushing, the worker while
consuming) and the redis-server's (its utime + stime: ``INFO cpu``, in µs, and
``/proc/PID/stat``, in 10 ms ticks, as a cross-check), divided by N: CPU µs per
task. On a shared machine CPU per task is the stable measure;
tasks/s moves with whatever else runs.

``--backlog kept`` measures workers that keep up with their producers instead
of draining a queue filled beforehand: 2,000 tasks are pushed first, and the
worker pushes the next 1,000 after every 1,000th task it runs (before its next
reserve, so the queue holds 1,000 to 2,000 all along); the CPU those pushes
take is left out of the worker's figure and of the redis-server's (``INFO
cpu`` read around each push, a few µs of the server's own per push on both
sides alike; the ``/proc`` cross-check column still counts them in).

``--load busy`` runs one CPU hog (``python -c 'while True: pass'``) per core
during every measurement of that set, and kills them after it; ``--load
idle,busy`` (the default) runs both sets. Within a run every variant is measured
once, in an order that alternates run by run, so a slow spell of the machine
hits all of them rather than one. Figures are medians of ``--runs`` runs; ratios
are ours / Sergeant's. The output records each side's install (redis-py,
hiredis, the reply parser in use) and the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import sergeant_venv  # noqa: E402

CHILD = HERE / "_worker_bench_child.py"
BASELINE = "sergeant 0.27.0 (at-most-once)"
#: Figures a child reports, medians taken for each.
FIGURES = (
    "push_per_s",
    "producer_cpu_us",
    "push_server_cpu_us",
    "consume_per_s",
    "worker_cpu_us",
    "server_cpu_us",
    "server_cpu_us_proc",
)


def measure(python: str, spec: dict[str, Any]) -> dict[str, Any]:
    spec = {**spec, "queue": f"bench-{uuid.uuid4().hex[:8]}"}
    result = subprocess.run(
        [python, str(CHILD), json.dumps(spec)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"measurement failed: {spec}\n{result.stderr[-2000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@contextmanager
def cpu_hogs(count: int) -> Iterator[list[int]]:
    """``count`` processes spinning on a core each, killed on exit."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield [hog.pid for hog in hogs]
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()


def variants_for(
    backend: str, baseline: str, ours: str, no_hiredis: bool
) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, python, spec extras) of every variant measured on ``backend``."""
    variants: list[tuple[str, str, dict[str, Any]]] = [
        (BASELINE, baseline, {"options": {}}),
        ("ours at-least-once", ours, {"options": {"delivery": "at_least_once"}}),
    ]
    if backend == "redis":  # the only built-in backend that prefetches
        variants.append(
            (
                "ours at-least-once, no prefetch",
                ours,
                {"options": {"delivery": "at_least_once", "prefetch_under": 0}},
            )
        )
    variants.append(("ours at-most-once", ours, {"options": {"delivery": "at_most_once"}}))
    if backend == "redis" and no_hiredis:
        variants.append(
            (
                "ours at-least-once, hiredis blocked",
                ours,
                {"options": {"delivery": "at_least_once"}, "block_hiredis": True},
            )
        )
    return variants


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_set(
    args: argparse.Namespace,
    load: str,
    baseline: str,
    tmp: Path,
    redis_server: Any,
) -> list[dict[str, Any]]:
    """Every backend, tasks-per-transaction and variant under one load; a row each."""
    rows = []
    for backend in args.backends.split(","):
        variants = variants_for(backend, baseline, sys.executable, args.no_hiredis_variant)
        n_bulk = args.n_bulk if backend == "redis" else args.n_bulk_local
        for tpt, n in ((1, args.n), (1000, n_bulk)):
            samples: dict[str, list[dict[str, Any]]] = {label: [] for label, *_ in variants}
            loads = [load_average()]
            for run in range(args.runs):
                order = variants if run % 2 == 0 else variants[::-1]
                for label, python, extras in order:
                    spec: dict[str, Any] = {"backend": backend, "n": n, "tpt": tpt, **extras}
                    spec["kept"] = args.backlog == "kept"
                    if backend == "redis":
                        spec["params"] = {"nodes": [redis_server.node()]}
                        spec["server_pid"] = redis_server.pid
                    else:
                        spec["params"] = {"file_path": str(tmp / f"{uuid.uuid4().hex}.sqlite3")}
                    samples[label].append(measure(python, spec))
            loads.append(load_average())
            for label, *_ in variants:
                runs = samples[label]
                medians = {key: statistics.median(s[key] for s in runs) for key in FIGURES}
                row = {
                    "load": load,
                    "backend": backend,
                    "tasks_per_transaction": tpt,
                    "n": n,
                    "backlog": args.backlog,
                    "variant": label,
                    "median": medians,
                    "runs": [{key: s[key] for key in FIGURES} for s in runs],
                    "install": runs[0]["install"],
                    "load_average_before_after": loads,
                }
                rows.append(row)
                print(
                    f"{load:4} {backend:5} tpt={tpt:<5} {label:36} "
                    f"{medians['consume_per_s']:>9,.0f}/s  worker "
                    f"{medians['worker_cpu_us']:6.1f} µs  server "
                    f"{medians['server_cpu_us']:6.1f} µs",
                    file=sys.stderr,
                    flush=True,
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="tasks, one per transaction")
    parser.add_argument("--n-bulk", type=int, default=100_000, help="tasks, 1,000 per transaction")
    parser.add_argument(
        "--n-bulk-local",
        type=int,
        default=20_000,
        help="tasks, 1,000 per transaction, on local (Sergeant's push_tasks commits each task)",
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per variant; medians shown")
    parser.add_argument("--backends", default="redis,local")
    parser.add_argument(
        "--load",
        default="idle,busy",
        help="idle, busy (a CPU hog per core during every measurement) or both",
    )
    parser.add_argument(
        "--backlog",
        choices=("filled", "kept"),
        default="filled",
        help="filled: all N tasks pushed first; kept: 1,000 to 2,000 waiting all along",
    )
    parser.add_argument(
        "--no-hiredis-variant",
        action="store_true",
        help="also measure ours at-least-once on Redis with hiredis made unimportable",
    )
    parser.add_argument(
        "--render", metavar="JSON", help="print the tables of a saved --json report and exit"
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON for scripts")
    output.add_argument("--markdown", action="store_true", help="print tables for the docs")
    args = parser.parse_args()
    if args.render:
        print(markdown(json.loads(Path(args.render).read_text())))
        return
    loads = args.load.split(",")
    if not set(loads) <= {"idle", "busy"}:
        parser.error("--load takes idle, busy or idle,busy")

    baseline = str(sergeant_venv.ensure())
    tmp = Path(tempfile.mkdtemp(prefix="sergeant-worker-bench-"))
    redis_server = None
    if "redis" in args.backends.split(","):
        from sergeant_test_support.redis_fixtures import RedisServer

        redis_server = RedisServer(tmp / "redis").start()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    rows: list[dict[str, Any]] = []
    try:
        for load in loads:
            hogs = (os.cpu_count() or 1) if load == "busy" else 0
            with cpu_hogs(hogs):
                rows += run_set(args, load, baseline, tmp, redis_server)
    finally:
        if redis_server is not None:
            redis_server.stop()
    report = {
        "started": started,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "redis_server": redis_server_version() if redis_server is not None else None,
        },
        "runs": args.runs,
        "installs": installs(rows),
        "sergeant_venv_freeze": sergeant_venv.freeze(),
        "rows": rows,
    }
    if args.markdown:
        print(markdown(report))
    else:
        print(json.dumps(report, indent=2))


def redis_server_version() -> str:
    from sergeant_test_support.redis_fixtures import redis_server_executable

    out = subprocess.run(
        [redis_server_executable(), "--version"], capture_output=True, text=True, check=False
    ).stdout
    return out.split(" v=", 1)[1].split()[0] if " v=" in out else out.strip()


def installs(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each side's install, as its children reported it (blocked-hiredis runs apart)."""
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["variant"] == BASELINE:
            side = "sergeant 0.27.0"
        elif "hiredis blocked" in row["variant"]:
            side = "ours, hiredis blocked"
        else:
            side = "ours"
        if row["backend"] == "redis" or side not in found:
            found[side] = row["install"]
    return found


def describe(install: dict[str, Any]) -> str:
    parts = [f"Python {install['python']}"]
    if install.get("sergeant-redis"):
        parts.append(f"sergeant-redis {install['sergeant-redis']}")
    if install.get("redis"):
        parts.append(f"redis-py {install['redis']}")
    parts.append(f"hiredis {install['hiredis']}" if install["hiredis"] else "no hiredis")
    if install.get("reply_parser"):
        parts.append(f"reply parser {install['reply_parser']}")
    parts.append(f"msgpack {install['msgpack']}")
    return ", ".join(parts)


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Started {report['started']}; {report['machine']['cpus']} CPUs, "
        f"{report['machine']['platform']}, redis-server {report['machine']['redis_server']}; "
        f"medians of {report['runs']} runs.",
        "",
    ]
    for side, install in report["installs"].items():
        lines.append(f"- {side}: {describe(install)}")
    freeze = report.get("sergeant_venv_freeze")
    if freeze:
        lines.append(f"- Sergeant's venv (`pip install sergeant==0.27.0`): {', '.join(freeze)}")
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for row in report["rows"]:
        groups.setdefault((row["load"], row["backend"], row["tasks_per_transaction"]), []).append(
            row
        )
    for (load, backend, tpt), rows in groups.items():
        base = next(r["median"] for r in rows if r["variant"] == BASELINE)
        before, after = rows[0]["load_average_before_after"]
        kept = rows[0].get("backlog") == "kept"
        lines += [
            "",
            f"**{backend}, {tpt:,} per transaction, N = {rows[0]['n']:,}, "
            f"{'1,000 to 2,000 waiting, ' if kept else ''}"
            f"{'cores busy (a CPU hog per core)' if load == 'busy' else 'no hogs'}** "
            f"(load average {before[0]} before, {after[0]} after)",
            "",
        ]
        if backend == "redis":
            lines += [
                "| variant | tasks/s | vs Sergeant | worker CPU µs/task | vs Sergeant "
                "| redis-server CPU µs/task | vs Sergeant | push_tasks/s | producer CPU µs/task |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
        else:
            lines += [
                "| variant | tasks/s | vs Sergeant | worker CPU µs/task | vs Sergeant "
                "| push_tasks/s | producer CPU µs/task |",
                "|---|---:|---:|---:|---:|---:|---:|",
            ]
        for row in rows:
            m = row["median"]
            cells = [
                row["variant"],
                f"{m['consume_per_s']:,.0f}",
                ratio(m["consume_per_s"], base["consume_per_s"]),
                us(m["worker_cpu_us"]),
                ratio(m["worker_cpu_us"], base["worker_cpu_us"]),
            ]
            if backend == "redis":
                cells += [
                    us(m["server_cpu_us"]),
                    ratio(m["server_cpu_us"], base["server_cpu_us"]),
                ]
            cells += [f"{m['push_per_s']:,.0f}", us(m["producer_cpu_us"])]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def us(value: float) -> str:
    """Microseconds: two decimals below 10 (a batch of 1,000 costs the server < 1 µs a task)."""
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs else "-"


if __name__ == "__main__":
    main()
