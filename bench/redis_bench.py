"""Benchmark sergeant-redis against Sergeant 0.27.0's redis connector and raw redis-py.

Run by hand: ``.venv/bin/python bench/redis_bench.py [--runs 3] [--quick] [--load busy]``.
Starts its own redis-servers (one and two nodes), 100-byte items, and prints a
markdown table of medians (items/s) with ratios. Sergeant 0.27.0 runs in its own
venv (``bench/sergeant_venv.py``); each side is a long-lived subprocess running
this file. On a shared machine the load drifts within seconds, so every run
measures each case in :data:`BLOCKS` blocks, the sides taking turns block by
block: a run's rate is its N over the summed time of its blocks. ``--load
busy`` keeps a CPU hog running on each core throughout.
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

ITEM = b"x" * 100
CASES = ("push_one", "pop_one", "push_bulk", "pop_bulk", "reserve_ack", "ack_and_reserve")
BLOCKS = 5


def _measure(queue: Any, case: str, n: int, flush: Callable[[], None]) -> float:
    """Seconds ``n`` items of one case take; ``queue`` has Sergeant's connector methods."""
    name = f"bench-{case}"
    flush()
    if case in ("pop_one", "pop_bulk", "reserve_ack", "ack_and_reserve"):
        for start in range(0, n, 1000):
            queue.queue_push_bulk(name, [ITEM] * min(1000, n - start))
    started = time.perf_counter()
    if case == "push_one":
        for _ in range(n):
            queue.queue_push(name, ITEM)
    elif case == "pop_one":
        for _ in range(n):
            queue.queue_pop(name)
    elif case == "push_bulk":
        for _ in range(n // 1000):
            queue.queue_push_bulk(name, [ITEM] * 1000)
    elif case == "pop_bulk":
        for _ in range(n // 1000):
            queue.queue_pop_bulk(name, 1000)
    elif case == "reserve_ack":
        for _ in range(n // 1000):
            batch = queue.queue_reserve(name, 1000, 60)
            queue.queue_ack(name, batch.receipts())
    elif case == "ack_and_reserve":  # the worker's hot path: one call per batch
        receipts: Sequence[str] = []
        for _ in range(n // 1000):
            _, batch = queue.queue_ack_and_reserve(name, receipts, 1000, 60)
            receipts = batch.receipts()
        queue.queue_ack(name, receipts)
    return time.perf_counter() - started


class _Raw:
    """The floor: the fewest redis-py calls that do the job (no priorities, no leases)."""

    def __init__(self, ports: list[int]) -> None:
        import redis

        self.clients = [redis.Redis(port=p) for p in ports]
        self.turn = 0

    def _next(self) -> Any:
        self.turn += 1
        return self.clients[self.turn % len(self.clients)]

    def queue_push(self, name: str, item: bytes) -> None:
        self._next().rpush(name, item)

    def queue_push_bulk(self, name: str, items: list[bytes]) -> None:
        self._next().rpush(name, *items)

    def queue_pop(self, name: str) -> Any:
        for _ in self.clients:
            got = self._next().lpop(name)
            if got is not None:
                return got
        return None

    def queue_pop_bulk(self, name: str, count: int) -> list[Any]:
        out: list[Any] = []
        for _ in self.clients:
            out += self._next().lpop(name, count - len(out)) or []
            if len(out) >= count:
                break
        return out


def _flusher(ports: list[int]) -> Callable[[], None]:
    import redis

    clients = [redis.Redis(port=p) for p in ports]
    return lambda: [c.flushall() for c in clients] and None


def _side(side: str, ports: list[int]) -> tuple[Any, tuple[str, ...]]:
    """The queue object of ``side`` on these ports, and the cases it supports."""
    nodes = [{"host": "127.0.0.1", "port": p, "password": None, "database": 0} for p in ports]
    if side == "ours":
        from sergeant_redis import RedisConnector

        return RedisConnector(nodes=nodes), CASES
    if side == "sergeant":
        from sergeant.connector.redis import Connector

        return Connector(nodes=nodes), CASES[:4]
    return _Raw(ports), CASES[:4]


def serve_side(side: str, ports: list[int]) -> None:
    """Side process: for each ``<case> <n>`` line on stdin, measure and print seconds."""
    queue, cases = _side(side, ports)
    flush = _flusher(ports)
    print(json.dumps(cases), flush=True)
    for line in sys.stdin:
        case, n = line.split()
        print(_measure(queue, case, int(n), flush), flush=True)


class _SideProcess:
    """A long-lived side process, so the sides can take turns case by case."""

    def __init__(self, python: str, side: str, ports: list[int]) -> None:
        self.name = side
        self.process = subprocess.Popen(
            [python, __file__, "--side", side, "--ports", ",".join(map(str, ports))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.cases: list[str] = json.loads(self._line())

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.name} side exited: {self.process.wait()}")
        return line

    def measure(self, case: str, n: int) -> float:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{case} {n}\n")
        self.process.stdin.flush()
        return float(self._line())

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="N / 10, for a smoke run")
    parser.add_argument("--load", choices=("idle", "busy"), default="idle")
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--ports", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        serve_side(args.side, [int(p) for p in args.ports.split(",")])
        return

    root = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(root / "bench"), str(root / "tests" / "support" / "src")]
    import sergeant_venv
    from sergeant_test_support.redis_fixtures import RedisServer
    from worker_bench import cpu_hogs

    baseline = str(sergeant_venv.ensure())
    n_one, n_bulk = (2_000, 10_000) if args.quick else (20_000, 100_000)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {args.load}")
    servers = [RedisServer(tempfile.mkdtemp(prefix="redis-bench-")).start() for _ in range(2)]
    try:
        with cpu_hogs((os.cpu_count() or 1) if args.load == "busy" else 0):
            for count in (1, 2):
                ports = [s.port for s in servers[:count]]
                sides = [
                    _SideProcess(sys.executable, "ours", ports),
                    _SideProcess(baseline, "sergeant", ports),
                    _SideProcess(sys.executable, "raw", ports),
                ]
                results: dict[str, dict[str, list[float]]] = {}
                try:
                    for run in range(args.runs):
                        for case in CASES:
                            n = n_one if case.endswith("_one") else n_bulk
                            spent: dict[str, float] = {}
                            for block in range(BLOCKS):
                                # Block by block, each block in another order.
                                turn = (run + block) % 3
                                for side in sides[turn:] + sides[:turn]:
                                    if case in side.cases:
                                        took = side.measure(case, n // BLOCKS)
                                        spent[side.name] = spent.get(side.name, 0.0) + took
                            for name, seconds in spent.items():
                                results.setdefault(case, {}).setdefault(name, []).append(
                                    n / seconds
                                )
                finally:
                    for side in sides:
                        side.close()
                _table(count, results, args.runs)
    finally:
        for server in servers:
            server.stop()
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _table(nodes: int, results: dict[str, dict[str, list[float]]], runs: int) -> None:
    print(f"\n{nodes} node(s), medians of {runs} runs, items/s\n")
    print("| case | sergeant-redis | Sergeant 0.27.0 | raw redis-py | ours / 0.27 | ours / raw |")
    print("|---|---:|---:|---:|---:|---:|")
    for case in CASES:
        sides = results.get(case, {})
        ours = statistics.median(sides["ours"])
        base = statistics.median(sides["sergeant"]) if "sergeant" in sides else None
        raw = statistics.median(sides["raw"]) if "raw" in sides else None
        print(
            f"| {case} | {ours:,.0f} | {f'{base:,.0f}' if base else '-'} | "
            f"{f'{raw:,.0f}' if raw else '-'} | {f'{ours / base:.2f}' if base else '-'} | "
            f"{f'{ours / raw:.2f}' if raw else '-'} |"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
