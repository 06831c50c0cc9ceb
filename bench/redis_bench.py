"""Benchmark sergeant-redis against Sergeant 0.27.0's redis connector and raw redis-py.

Run by hand: ``.venv/bin/python bench/redis_bench.py [--runs 3] [--quick]``.
Starts its own redis-servers (one and two nodes), 100-byte items, and prints a
markdown table of medians (items/s) with ratios. Sergeant 0.27.0 runs in its own
venv (``bench/sergeant_venv.py``) as a subprocess; this file is also its script.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ITEM = b"x" * 100
CASES = ("push_one", "pop_one", "push_bulk", "pop_bulk", "reserve_ack")


def _measure(queue: Any, case: str, n: int, flush: Callable[[], None]) -> float:
    """Items per second for one case; ``queue`` has Sergeant's connector methods."""
    name = f"bench-{case}"
    flush()
    if case in ("pop_one", "pop_bulk", "reserve_ack"):
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
            queue.queue_ack(name, [d.receipt for d in batch])
    return n / (time.perf_counter() - started)


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


def run_side(side: str, ports: list[int], n_one: int, n_bulk: int) -> dict[str, float]:
    """Measure every case that ``side`` supports; returns items/s per case."""
    nodes = [{"host": "127.0.0.1", "port": p, "password": None, "database": 0} for p in ports]
    if side == "ours":
        from sergeant_redis import RedisConnector

        queue: Any = RedisConnector(nodes=nodes)
        cases = CASES
    elif side == "sergeant":
        from sergeant.connector.redis import Connector

        queue = Connector(nodes=nodes)
        cases = CASES[:4]
    else:
        queue = _Raw(ports)
        cases = CASES[:4]
    flush = _flusher(ports)
    return {
        case: _measure(queue, case, n_one if case.endswith("_one") else n_bulk, flush)
        for case in cases
    }


def _side_in(python: str, side: str, ports: list[int], n_one: int, n_bulk: int) -> Any:
    out = subprocess.run(
        [python, __file__, "--side", side, "--ports", ",".join(map(str, ports)),
         "--n-one", str(n_one), "--n-bulk", str(n_bulk)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="N / 10, for a smoke run")
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--ports", help=argparse.SUPPRESS)
    parser.add_argument("--n-one", type=int, default=20_000, help=argparse.SUPPRESS)
    parser.add_argument("--n-bulk", type=int, default=100_000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        ports = [int(p) for p in args.ports.split(",")]
        print(json.dumps(run_side(args.side, ports, args.n_one, args.n_bulk)))
        return

    root = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(root / "bench"), str(root / "tests" / "support" / "src")]
    import sergeant_venv
    from sergeant_test_support.redis_fixtures import RedisServer

    baseline = str(sergeant_venv.ensure())
    n_one, n_bulk = (2_000, 10_000) if args.quick else (args.n_one, args.n_bulk)
    servers = [RedisServer(tempfile.mkdtemp(prefix="redis-bench-")).start() for _ in range(2)]
    try:
        for count in (1, 2):
            ports = [s.port for s in servers[:count]]
            results: dict[str, dict[str, list[float]]] = {}
            for _ in range(args.runs):
                for side, python in (
                    ("ours", sys.executable),
                    ("sergeant", baseline),
                    ("raw", sys.executable),
                ):
                    got = _side_in(python, side, ports, n_one, n_bulk)
                    for case, rate in got.items():
                        results.setdefault(case, {}).setdefault(side, []).append(rate)
            _table(count, results, args.runs)
    finally:
        for server in servers:
            server.stop()


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
