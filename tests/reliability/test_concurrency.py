"""Scenario 4: concurrency invariants.

Eight processes, each for a bounded time (8 s in CI, 60 s soak), run a random
mix of push, bulk push, reserve (leases of 0.2, 0.5 and 2 s, so some run out
while held and their stale receipts get used), ack, ack-and-reserve, release
(some delayed), dead-letter, and lock acquire/release on two shared lock names,
directly on the connector API: on one local SQLite file, and on two Redis nodes.
Each process logs what it did; afterwards the parent checks the invariants listed
in :mod:`concurrency_checks` (pushed = acked + queued + in flight + dead, no
item acked twice, no lock held by two at once, and more).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import sergeant
from concurrency_checks import Ledger, Snapshot, check, finish, run_processes
from reliability_report import Outcome, record
from sergeant.config import Connector as ConnectorConfig

PROCESSES = 8


@pytest.fixture(params=["local", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def connector_spec(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    if backend == "local":
        return {"type": "local", "params": {"file_path": str(tmp_path / "shared.sqlite3")}}
    servers = request.getfixturevalue("redis_servers")
    return {"type": "redis", "params": {"nodes": [server.node() for server in servers]}}


def test_concurrent_processes_keep_the_invariants(
    backend: str, connector_spec: dict[str, Any], soak: bool, tmp_path: Path
) -> None:
    seconds = 60.0 if soak else 8.0
    run = uuid.uuid4().hex[:10]
    queue = f"concurrency-{run}"
    locks = [f"concurrency-{run}-a", f"concurrency-{run}-b"]
    config = ConnectorConfig(type=connector_spec["type"], params=connector_spec["params"])
    started = time.monotonic()
    logs, failures = run_processes(
        connector_spec, queue, locks, tmp_path, processes=PROCESSES, seconds=seconds, seed=4
    )
    ran = time.monotonic() - started
    with sergeant.connect(config) as connector:
        ledger, verdict = finish(connector, queue, logs)
    verdict.violations[:0] = failures
    label = "local (one file)" if backend == "local" else "redis (2 nodes)"
    ops = ", ".join(f"{kind} {n:,}" for kind, n in sorted(ledger.ops.items()))
    record(
        Outcome(
            scenario="4. concurrency invariants",
            backend=label,
            load=f"{PROCESSES} processes, {seconds:g} s of mixed queue and lock calls",
            faults="contention; leases running out while held (stale receipts used)",
            lost=verdict.lost,
            duplicates=verdict.acked_twice,
            verdict="fail" if verdict.violations else "pass",
            details=(
                f"{verdict.pushed:,} pushed = {verdict.acked:,} acked + {verdict.left:,} left "
                f"({verdict.in_flight_at_end:,} of them in flight) + {verdict.dead:,} dead; "
                f"{verdict.redeliveries:,} redeliveries, {verdict.stale_refused:,} stale "
                f"receipts refused; {verdict.lock_windows:,} lock holdings "
                f"({ledger.lock_busy:,} acquire timeouts); ops: {ops}; "
                f"violations: {'; '.join(verdict.violations) or 'none'}"
            ),
            figures={
                "pushed": verdict.pushed,
                "acked": verdict.acked,
                "left": verdict.left,
                "in_flight_at_end": verdict.in_flight_at_end,
                "dead": verdict.dead,
                "acked_twice": verdict.acked_twice,
                "redeliveries": verdict.redeliveries,
                "stale_refused": verdict.stale_refused,
                "lock_windows": verdict.lock_windows,
                "lock_busy": ledger.lock_busy,
                "seconds": round(ran, 1),
                **{f"ops_{kind}": n for kind, n in ledger.ops.items()},
            },
        )
    )
    assert not verdict.violations, "\n".join(verdict.violations)
    assert verdict.pushed > 0
    assert verdict.acked > 0
    assert verdict.lock_windows > 0


def test_the_checks_catch_each_broken_invariant() -> None:
    """The checker itself can fail: a made-up ledger breaking every invariant once."""
    ledger = Ledger(pushed=["a", "b", "c", "d"])
    ledger.reserves["a"] += [(1, 0.0, 0.01, 2.0), (2, 0.5, 0.51, 2.0)]  # re-handed out at 0.5 s
    ledger.reserves["b"] += [(1, 0.0, 0.01, 0.2)]
    ledger.acks += [
        ("a", 2, 1, 1.0, 1.01, "ack"),
        ("a", 1, 1, 1.1, 1.11, "ack"),  # acked twice
        ("b", 1, 1, 5.0, 5.01, "ack"),  # long after its 0.2 s lease ran out
    ]
    ledger.locks["l"] += [(0.0, 1.0, True, 0), (0.5, 0.6, True, 1)]
    verdict = check(ledger, Snapshot(ready=0, delayed=0, in_flight=0), 1, ["c"], [])
    found = "\n".join(verdict.violations)
    for broken in (
        "items acked twice: 1",
        "pushed 4 != acked 3",
        "queue_length says 1, the snapshot held 0",
        "pushed ids found nowhere (lost): 1, e.g. ['d']",
        "handed out again while their lease was live: 1",
        "expired receipts that still acked or released: 1",
        "lock windows of two holders overlapping: 1",
    ):
        assert broken in found, found
