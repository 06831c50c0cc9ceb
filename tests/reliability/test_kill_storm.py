"""Scenario 1: a worker kill storm.

20,000 tasks, 4 worker processes under the supervisor, and one worker,
picked at random, SIGKILLed every half second (or every start-up time of a
worker, measured as the time to the first task run, if that is longer: on a
busy machine a worker takes seconds to start) for 30 s or until the queue is
drained, then no more kills until it is (a few hundred tasks on mongo: the test
server is slow). Leases are 2 s
so a killed worker's tasks come back fast, and ``max_deliveries`` is high enough
that a task caught in several kills is run again, not dead-lettered.

Verdict: every task's effect recorded at least once within the bound, none lost
(gone from storage unrecorded), nothing left queued, in flight or dead.
Duplicates (runs beyond the first: at-least-once re-runs the tasks a killed
worker had finished but not yet acked), the time to drain and the workers alive
on average are figures, not limits.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from reliability_report import Outcome, record
from sergeant.config import Connector as ConnectorConfig
from storm_helpers import StormResult, run_storm

#: Tasks per backend: (CI, soak). The mongo test server slows down as its
#: collection grows, so it gets a few hundred, pushed 100 at a time.
TASKS = {"local": (20_000, 100_000), "redis": (20_000, 100_000), "mongo": (400, 1_500)}
PUSH_CHUNK = {"local": 5_000, "redis": 5_000, "mongo": 100}
KILL_EVERY = 0.5
CONCURRENCY = 4
LEASE_SECONDS = 2.0
MAX_DELIVERIES = 100


@pytest.fixture
def storm_config(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> ConnectorConfig:
    if backend == "local":
        return ConnectorConfig(type="local", params={"file_path": str(tmp_path / "storm.sqlite3")})
    if backend == "redis":
        server = request.getfixturevalue("redis_server")
        return ConnectorConfig(type="redis", params={"nodes": [server.node()]})
    from sergeant_test_support.mongo_fixtures import mongo_connector_params

    server = request.getfixturevalue("mongo_server")
    return ConnectorConfig(type="mongo", params=mongo_connector_params(server))


@pytest.fixture(params=["local", "redis", "mongo"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _verdict(result: StormResult) -> bool:
    return (
        result.drained
        and result.lost == 0
        and not result.unknown_ids
        and result.left_queued == 0
        and result.left_in_flight == 0
        and result.dead == 0
    )


def test_a_kill_storm_loses_no_task(
    backend: str, storm_config: ConnectorConfig, soak: bool, tmp_path: Path
) -> None:
    tasks = TASKS[backend][1 if soak else 0]
    result = run_storm(
        storm_config,
        f"storm-{uuid.uuid4().hex[:10]}",
        tasks,
        tmp_path / "supervisor.log",
        concurrency=CONCURRENCY,
        kill_every=KILL_EVERY,
        push_chunk=PUSH_CHUNK[backend],
        lease_seconds=LEASE_SECONDS,
        max_deliveries=MAX_DELIVERIES,
        timeout=900 if soak else 30,
    )
    passed = _verdict(result)
    drain = (
        f"drained in {result.drain_seconds:.1f} s"
        if result.drained
        else f"did NOT drain within the bound: {result.not_run:,} tasks never ran"
    )
    record(
        Outcome(
            scenario="1. worker kill storm",
            backend=backend,
            load=f"{tasks:,} tasks, {CONCURRENCY} worker processes, lease {LEASE_SECONDS:g} s",
            faults=f"{result.kills} SIGKILLs of a random worker, one every "
            f"{result.kill_every:.2g} s",
            lost=result.lost,
            duplicates=result.duplicates,
            verdict="pass" if passed else "fail",
            details=(
                f"{drain}; a worker took {result.startup_seconds:.1f} s to start, so kills "
                f"came every {result.kill_every:.2g} s (asked: {KILL_EVERY:g} s); "
                f"{result.processes_started} worker processes started in all, "
                f"{result.mean_alive:.1f} of {CONCURRENCY} alive on average "
                f"(none alive {result.share_with_none_alive:.0%} of the time); "
                f"most deliveries of one task {result.max_deliveries_seen}; "
                f"left queued {result.left_queued}, in flight {result.left_in_flight}, "
                f"dead-lettered {result.dead} (max_deliveries={MAX_DELIVERIES})"
            ),
            figures={
                "tasks": tasks,
                "kills": result.kills,
                "lost": result.lost,
                "not_run": result.not_run,
                "duplicates": result.duplicates,
                "drain_seconds": round(result.drain_seconds, 2),
                "startup_seconds": round(result.startup_seconds, 2),
                "processes_started": result.processes_started,
                "mean_alive": round(result.mean_alive, 2),
                "share_with_none_alive": round(result.share_with_none_alive, 3),
                "max_deliveries_seen": result.max_deliveries_seen,
                "dead": result.dead,
            },
        )
    )
    log_tail = "\n".join(result.supervisor_log.splitlines()[-30:])
    assert result.lost == 0, f"{result.lost} tasks gone from storage without running"
    assert result.drained, (
        f"not drained within the bound: {result.not_run} of {tasks} tasks never ran, "
        f"{result.mean_alive:.1f} of {CONCURRENCY} workers alive on average: {result}\n{log_tail}"
    )
    assert not result.unknown_ids, f"records of tasks never pushed: {result.unknown_ids[:10]}"
    assert (result.left_queued, result.left_in_flight) == (0, 0)
    assert result.dead == 0, f"{result.dead} tasks dead-lettered\n{log_tail}"
    assert result.kills >= 1
