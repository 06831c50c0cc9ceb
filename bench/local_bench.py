"""Benchmark sergeant-local against Sergeant 0.27.0's local connector, in one run.

Run by hand (not in CI), from the repo root with the dev venv::

    .venv/bin/python bench/local_bench.py            # N = 100,000, 3 runs, a table
    .venv/bin/python bench/local_bench.py --json     # the same as JSON

Every measurement runs in a fresh child process on a fresh file in a temp dir:
ours with this python, the baseline with the venv of ``bench/sergeant_venv.py``
(the original ``sergeant==0.27.0`` from PyPI), and a raw-sqlite3 floor (the cost
of one ``DELETE ... RETURNING`` commit per pop on a minimal one-b-tree table,
WAL + synchronous=NORMAL, no Python around it). Figures are items per second,
the median of ``--runs`` runs. The baseline's one-at-a-time cases use
``--baseline-one-n`` items (it is slow); the table says so.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

CASES = (
    "push_one",
    "push_bulk",
    "pop_one",
    "pop_bulk",
    "reserve_ack",
    "ack_and_reserve",
    "ack_and_reserve_one",
)
#: Cases the baseline cannot run: it has no reservations.
OURS_ONLY = ("reserve_ack", "ack_and_reserve", "ack_and_reserve_one")
LABELS = {
    "push_one": "push one at a time",
    "push_bulk": "push bulk (1,000/call)",
    "pop_one": "pop one at a time",
    "pop_bulk": "pop bulk (1,000/call)",
    "reserve_ack": "reserve + ack (1,000/call)",
    "ack_and_reserve": "ack_and_reserve (1,000/call, one transaction)",
    "ack_and_reserve_one": "ack_and_reserve one at a time",
}
BULK = 1_000
QUEUE = "bench"


# Child side: measure one implementation ------------------------------------------


def _items(n: int) -> list[bytes]:
    return [f"item-{i:08d}".encode() for i in range(n)]


def _timed(fn: Callable[[], None], n: int) -> float:
    started = time.perf_counter()
    fn()
    return n / (time.perf_counter() - started)


def _measure_connector(make: Callable[[str], Any], case: str, n: int, path: str) -> float:
    connector = make(path)
    items = _items(n)

    def fill() -> None:
        for start in range(0, n, BULK):
            connector.queue_push_bulk(QUEUE, items[start : start + BULK])

    if case == "push_one":

        def run() -> None:
            push = connector.queue_push
            for item in items:
                push(QUEUE, item)

    elif case == "push_bulk":

        def run() -> None:
            push = connector.queue_push_bulk
            for start in range(0, n, BULK):
                push(QUEUE, items[start : start + BULK])

    elif case == "pop_one":
        fill()

        def run() -> None:
            pop = connector.queue_pop
            for _ in range(n):
                if pop(QUEUE) is None:
                    raise RuntimeError("queue ran dry early")

    elif case == "pop_bulk":
        fill()

        def run() -> None:
            pop = connector.queue_pop_bulk
            for _ in range(n // BULK):
                if len(pop(QUEUE, BULK)) != BULK:
                    raise RuntimeError("queue ran dry early")

    elif case == "reserve_ack":
        fill()

        def run() -> None:
            reserve, ack = connector.queue_reserve, connector.queue_ack
            for _ in range(n // BULK):
                batch = reserve(QUEUE, BULK, 60)
                if ack(QUEUE, batch.receipts()) != BULK:
                    raise RuntimeError("ack lost items")

    elif case == "ack_and_reserve":
        fill()

        def run() -> None:
            ack_and_reserve = connector.queue_ack_and_reserve
            receipts: Sequence[str] = []
            for _ in range(n // BULK):
                acked, batch = ack_and_reserve(QUEUE, receipts, BULK, 60)
                if acked != len(receipts) or len(batch) != BULK:
                    raise RuntimeError("ack lost items or the queue ran dry early")
                receipts = batch.receipts()
            if connector.queue_ack(QUEUE, receipts) != BULK:
                raise RuntimeError("ack lost items")

    elif case == "ack_and_reserve_one":
        fill()

        def run() -> None:
            ack_and_reserve = connector.queue_ack_and_reserve
            receipts: Sequence[str] = []
            for _ in range(n):
                acked, batch = ack_and_reserve(QUEUE, receipts, 1, 60)
                if acked != len(receipts) or len(batch) != 1:
                    raise RuntimeError("ack lost items or the queue ran dry early")
                receipts = batch.receipts()
            if connector.queue_ack(QUEUE, receipts) != 1:
                raise RuntimeError("ack lost items")

    else:
        raise SystemExit(f"unknown case {case!r}")
    return _timed(run, n)


def _measure_raw_pop_one(n: int, path: str) -> float:
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    # The smallest table that keeps queues apart and FIFO: one b-tree, as ours.
    conn.execute(
        "CREATE TABLE q (queue TEXT, id INTEGER, item BLOB, PRIMARY KEY (queue, id)) WITHOUT ROWID"
    )
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO q (queue, id, item) VALUES (?, ?, ?)",
        ((QUEUE, i, item) for i, item in enumerate(_items(n))),
    )
    conn.execute("COMMIT")
    sql = (
        "DELETE FROM q WHERE (queue, id) = (SELECT queue, id FROM q WHERE queue = ?1"
        " ORDER BY id LIMIT 1) RETURNING item"
    )

    def run() -> None:
        execute = conn.execute
        for _ in range(n):
            execute(sql, (QUEUE,)).fetchall()

    return _timed(run, n)


def child(impl: str, cases: list[str], n: int, one_n: int, folder: str) -> dict[str, float]:
    """Measure ``cases`` for ``impl`` (ours | baseline | raw), each on a new file."""
    if impl == "ours":
        from sergeant_local import LocalConnector

        def make(path: str) -> Any:
            return LocalConnector(file_path=path)

    elif impl == "baseline":
        import sergeant.connector.local as original  # type: ignore[import-not-found]

        def make(path: str) -> Any:
            return original.Connector(file_path=path)

    results = {}
    for case in cases:
        path = os.path.join(folder, f"{impl}-{case}.sqlite3")
        count = one_n if case.endswith("_one") and impl == "baseline" else n
        if impl == "raw":
            results[case] = _measure_raw_pop_one(count, path)
        else:
            results[case] = _measure_connector(make, case, count, path)
    return results


# Parent side: run children, take medians, print -----------------------------------


def _run_child(python: str, impl: str, cases: list[str], args: argparse.Namespace) -> Any:
    with tempfile.TemporaryDirectory(prefix="sergeant-bench-") as folder:
        command = [
            python,
            __file__,
            "--child",
            impl,
            "--cases",
            ",".join(cases),
            "-n",
            str(args.n),
            "--baseline-one-n",
            str(args.baseline_one_n),
            "--dir",
            folder,
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{impl} benchmark failed:\n{done.stderr}")
        return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=100_000, help="items per case (default 100,000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per case; medians are shown")
    parser.add_argument(
        "--baseline-one-n",
        type=int,
        default=20_000,
        help="items for the baseline's one-at-a-time cases (default 20,000: it is slow)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--cases", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(
            json.dumps(
                child(args.child, args.cases.split(","), args.n, args.baseline_one_n, args.dir)
            )
        )
        return

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import sergeant_venv

    baseline_python = str(sergeant_venv.ensure())
    runs: dict[str, dict[str, list[float]]] = {"ours": {}, "baseline": {}, "raw": {}}
    plan = [
        ("ours", sys.executable, list(CASES)),
        ("baseline", baseline_python, [c for c in CASES if c not in OURS_ONLY]),
        ("raw", sys.executable, ["pop_one"]),
    ]
    for run in range(args.runs):
        for impl, python, cases in plan:
            print(f"run {run + 1}/{args.runs}: {impl} ...", file=sys.stderr, flush=True)
            for case, rate in _run_child(python, impl, cases, args).items():
                runs[impl].setdefault(case, []).append(rate)
    medians = {
        impl: {case: statistics.median(rates) for case, rates in cases.items()}
        for impl, cases in runs.items()
    }
    report = {
        "n": args.n,
        "baseline_one_n": args.baseline_one_n,
        "runs": args.runs,
        "items_per_second": medians,
        "ratio_vs_baseline": {
            case: medians["ours"][case] / medians["baseline"][case]
            for case in CASES
            if case in medians["baseline"]
        },
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(_table(report))


def _table(report: dict[str, Any]) -> str:
    rates, ratios = report["items_per_second"], report["ratio_vs_baseline"]
    lines = [
        "| operation | sergeant-local | Sergeant 0.27.0 local | ratio |",
        "|---|---:|---:|---:|",
    ]
    for case in CASES:
        ours = f"{rates['ours'][case]:,.0f}"
        if case in rates["baseline"]:
            base = f"{rates['baseline'][case]:,.0f}"
            if case.endswith("_one") and report["baseline_one_n"] != report["n"]:
                base += f" (N={report['baseline_one_n']:,})"
            ratio = f"{ratios[case]:.1f}x"
        else:
            base, ratio = "n/a (no reserve)", "-"
        lines.append(f"| {LABELS[case]} | {ours} | {base} | {ratio} |")
    raw = rates["raw"]["pop_one"]
    lines.append(f"| raw sqlite3 floor, pop one (WAL, NORMAL) | {raw:,.0f} | | |")
    lines.append("")
    lines.append(
        f"items/s, median of {report['runs']} runs, N = {report['n']:,} small items, "
        f"fresh file per case; Python {sys.version.split()[0]}, SQLite "
        f"{__import__('sqlite3').sqlite_version}, {os.cpu_count()} CPUs."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
