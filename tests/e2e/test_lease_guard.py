"""The supervisor keeps alive the leases of a worker process whose own renewal stalled.

On every backend (local, redis, mongo: each implements ``queue_extend``, all the
guard needs), two levels:

- :class:`~sergeant._lease_guard.LeaseGuard` with the backend's real connector:
  receipts published in a lease block whose heartbeat is stale are extended
  (they outlive their short lease while a control item reserved alongside comes
  back); once the heartbeat is fresh again, the guard stops and they come back
  after one lease.
- The real supervisor and worker processes: the process running a task is
  frozen (SIGSTOP) for three leases, so its renewal thread, like one starved by
  a task holding the GIL, renews nothing; the other process polls the queue all
  the while. The task runs exactly once, on its first delivery.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import sergeant
from conftest import Processes, connector_json
from sergeant._lease_block import LeaseBlock
from sergeant._lease_guard import LeaseGuard, worker_connector
from sergeant.broker import Broker
from sergeant.config import Connector as ConnectorConfig
from sergeant.task import Task
from sergeant.testing import wait_until

SHORT = 1.0
GUARDED_LEASE = 3.0


def records(connector: sergeant.Connector, queue: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while batch := connector.queue_pop_bulk(queue, 1000):
        found += [msgpack.unpackb(raw) for raw in batch]
    return found


def in_flight(connector: sergeant.Connector, queue: str) -> int:
    return sum(row.in_flight for row in connector.queue_stats(queue))


@pytest.fixture
def block(tmp_path: Path) -> Iterator[LeaseBlock]:
    """The worker's side of a lease block (the guard gets its own mapping)."""
    opened = LeaseBlock(str(tmp_path / "worker-1.leases"))
    yield opened
    opened.close()


@pytest.fixture
def guard(connector_config: ConnectorConfig, block: LeaseBlock) -> Iterator[LeaseGuard]:
    made = LeaseGuard(lambda: sergeant.connect(connector_config), logging.getLogger("test"))
    supervisor_side = LeaseBlock(block.path)
    made.watch(1, supervisor_side, lambda: True, os.getpid())
    yield made
    made.forget(1)
    made.close()
    supervisor_side.close()


def test_a_stale_heartbeat_gets_the_published_receipts_extended(
    connector: sergeant.Connector, queue_name: str, block: LeaseBlock, guard: LeaseGuard
) -> None:
    connector.queue_push_bulk(queue_name, [b"guarded-1", b"guarded-2"])
    guarded = connector.queue_reserve(queue_name, 2, SHORT)
    connector.queue_push(queue_name, b"control")
    (control,) = connector.queue_reserve(queue_name, 1, SHORT)
    block.start(queue_name, 30.0, time.monotonic() - 60)  # no beat for a minute
    block.publish([d.receipt for d in guarded])
    assert guard.check(time.monotonic()) == 2
    back = wait_until(
        lambda: connector.queue_reserve(queue_name, 10, 30),
        timeout=30,
        message="the control item back after its short lease",
    )
    assert [(d.item, d.deliveries) for d in back] == [(b"control", 2)]
    assert in_flight(connector, queue_name) == 3
    assert connector.queue_ack(queue_name, [d.receipt for d in guarded]) == 2
    assert connector.queue_ack(queue_name, [control.receipt]) == 0  # its lease had run out


def test_the_guard_thread_renews_until_the_heartbeat_resumes(
    connector: sergeant.Connector,
    connector_config: ConnectorConfig,
    queue_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The supervisor's own connector factory (the worker class's config) and thread."""
    monkeypatch.setenv("SERGEANT_E2E_CONNECTOR", connector_json(connector_config))
    monkeypatch.setenv("SERGEANT_E2E_QUEUE", queue_name)
    guard = LeaseGuard(worker_connector("e2e_workers", "Recorder"), logging.getLogger("test"))
    worker_side = LeaseBlock(str(tmp_path / "worker-1.leases"))
    supervisor_side = LeaseBlock(worker_side.path)
    try:
        guard.start()  # as the supervisor does, before any worker process: it connects first
        wait_until(lambda: guard.connector, timeout=60, message="the guard's connector")
        connector.queue_push(queue_name, b"held")
        (held,) = connector.queue_reserve(queue_name, 1, GUARDED_LEASE)
        reserved_at = time.monotonic()
        worker_side.start(queue_name, GUARDED_LEASE, reserved_at)
        worker_side.publish([held.receipt])
        guard.watch(1, supervisor_side, lambda: True, os.getpid())

        def three_leases_passed_and_still_held() -> bool:
            assert connector.queue_reserve(queue_name, 1, 30) == [], "handed out while guarded"
            return time.monotonic() - reserved_at > 3 * GUARDED_LEASE

        wait_until(three_leases_passed_and_still_held, timeout=60, interval=0.1)
        resumed_at = time.monotonic()

        def beating_until_back() -> list[sergeant.Delivery]:
            # The worker's thread is back and beats; it would renew too, but here it
            # does not, so once the guard stops the lease ends.
            worker_side.beat(time.monotonic())
            return connector.queue_reserve(queue_name, 1, 30)

        back = wait_until(beating_until_back, timeout=60, message="the item back, unguarded")
        assert time.monotonic() - resumed_at > GUARDED_LEASE / 2
        assert [(d.item, d.deliveries) for d in back] == [(b"held", 2)]
    finally:
        guard.forget(1)
        guard.close()
        worker_side.close()
        supervisor_side.close()


def test_a_frozen_worker_process_keeps_its_task_and_it_runs_once(
    connector: sergeant.Connector, processes: Processes, queue_name: str
) -> None:
    Broker(connector).push_task(queue_name, Task(kwargs={"id": 1, "announce": True, "sleep": 1}))
    supervisor = processes.start(
        "worker",
        "e2e_workers:Recorder",
        "-c",
        "2",
        "--no-progress",
        lease_seconds=GUARDED_LEASE,
    )
    started = wait_until(
        lambda: connector.queue_pop(f"{queue_name}:started"), timeout=60, message="the task"
    )
    frozen = msgpack.unpackb(started)["pid"]
    os.kill(frozen, signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:

        def three_leases_frozen() -> bool:
            assert in_flight(connector, queue_name) == 1, "the frozen process's lease ran out"
            return time.monotonic() - stopped_at > 3 * GUARDED_LEASE

        wait_until(three_leases_frozen, timeout=60, interval=0.1)
    finally:
        os.kill(frozen, signal.SIGCONT)
    ran_queue = f"{queue_name}:ran"
    wait_until(lambda: connector.queue_length(ran_queue) > 0, timeout=60, message="the run")
    supervisor.send_signal(signal.SIGTERM)  # graceful: a second run in progress would finish
    output, _ = supervisor.communicate(timeout=60)
    assert supervisor.returncode == 0, output
    runs = records(connector, ran_queue)
    assert [(r["id"], r["pid"], r["deliveries"]) for r in runs] == [(1, frozen, 1)], output
    assert "has not renewed its leases" in output
    assert connector.queue_length(queue_name, include_delayed=True) == 0
    assert in_flight(connector, queue_name) == 0
