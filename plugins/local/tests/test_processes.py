"""Several processes on one file: nothing handed out twice under a lease, nothing lost.

Children are real processes started with ``sys.executable`` (see ``_child.py``);
crash tests kill them with SIGKILL, as ``kill -9`` would.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sergeant.testing import wait_until
from sergeant_local import LocalConnector

CHILD = str(Path(__file__).with_name("_child.py"))


def _start(*args: str, stdout: int | None = subprocess.PIPE) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, CHILD, *args], stdout=stdout, text=True)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[str, LocalConnector]]:
    path = str(tmp_path / "shared.sqlite3")
    with LocalConnector(file_path=path) as connector:
        yield path, connector


def test_four_processes_ack_every_item_exactly_once(
    db: tuple[str, LocalConnector], tmp_path: Path
) -> None:
    path, connector = db
    items = [f"item-{i:05d}".encode() for i in range(20_000)]
    for start in range(0, len(items), 5_000):
        connector.queue_push_bulk("work", items[start : start + 5_000])
    outs = [tmp_path / f"acked-{n}.txt" for n in range(4)]
    children = [_start("drain", path, "work", str(out), "40", stdout=None) for out in outs]
    for child in children:
        assert child.wait(timeout=120) == 0
    acked = [line.encode() for out in outs for line in out.read_text().splitlines()]
    assert [item for item, n in Counter(acked).items() if n > 1] == []
    assert sorted(acked) == items
    (stats,) = connector.queue_stats("work")
    assert (stats.ready, stats.delayed, stats.in_flight) == (0, 0, 0)


def test_killed_holder_items_come_back_with_second_delivery(
    db: tuple[str, LocalConnector],
) -> None:
    path, connector = db
    items = [f"job-{i}".encode() for i in range(20)]
    connector.queue_push_bulk("jobs", items)
    child = _start("hold", path, "jobs", "10", "1.0")
    try:
        assert child.stdout is not None
        held = child.stdout.readline().split()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert held == [item.decode() for item in items[:10]]
    assert connector.queue_length("jobs") == 10  # the held ten are in flight

    wait_until(
        lambda: connector.queue_length("jobs") == 20,
        timeout=20,
        message="the killed process's leases to run out",
    )
    # Back in the queue behind items that were waiting when the leases ran out.
    again = connector.queue_reserve("jobs", 100, 30)
    assert {d.item.decode(): d.deliveries for d in again} == {
        item.decode(): 2 if item.decode() in held else 1 for item in items
    }
    assert connector.queue_ack("jobs", [d.receipt for d in again]) == 20
    assert connector.queue_length("jobs", include_delayed=True) == 0


def test_kill_during_bulk_push_keeps_whole_batches(db: tuple[str, LocalConnector]) -> None:
    path, connector = db
    size = 2_000
    child = _start("push", path, "bulk", str(size))
    try:
        assert child.stdout is not None
        committed = [int(child.stdout.readline()) for _ in range(5)]
    finally:
        child.send_signal(signal.SIGKILL)  # most likely mid-transaction: it pushes non-stop
        child.wait(timeout=30)
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    per_batch = Counter(item.split(b"-")[0] for item in connector.queue_pop_bulk("bulk", 10**6))
    assert set(per_batch.values()) == {size}, "a batch was stored in part"
    assert {f"b{n}".encode() for n in committed} <= set(per_batch)


def test_connector_inherited_through_fork_opens_its_own_connection(
    db: tuple[str, LocalConnector],
) -> None:
    _, connector = db
    connector.queue_push_bulk("forked", [b"a", b"b"])
    pid = os.fork()
    if pid == 0:  # child: use the inherited object, then leave without cleanup
        code = 0 if connector.queue_pop("forked") == b"a" else 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert connector.queue_pop("forked") == b"b"
    assert connector.queue_pop("forked") is None
