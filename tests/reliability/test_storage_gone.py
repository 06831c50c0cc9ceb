"""Scenario 13: the SQLite file deleted, or replaced, under a running worker and producer.

A producer process pushes a task every 5 ms and a worker process under the
supervisor runs them. Then the operator removes the database file with its
``-wal`` and ``-shm``, or moves another database file over it (removing the old
``-wal`` and ``-shm`` too: left beside the new file, SQLite would replay the old
WAL over it, a hazard of SQLite's own). Before the fix both processes went on
working on the unlinked file without a word, while processes started later used
a new file: the queue was split silently.

The old file is kept for the count: a hard link made just before the removal
(the processes cannot tell it from a deletion: the path is gone or another
file) lets the test read, once every process that had it open has stopped,
what stayed in it.

Verdict: within the bound, the producer stops with StorageGoneError naming
``file_path``, and no push it reported done returned after the removal; the
worker process that had the file open stops naming it too, and the one the
supervisor starts in its place runs a task pushed to the file now at the path.
Lost is 0: every task the producer reported pushed ran (its record is on the
old file or was read before) or is still in the old file, stranded by the
operator who removed it, counted apart; a push reported done after the removal
would count as lost (it went into a file no process at the path will see).
With the check disabled, neither process stopped within 60 s and about 2,100
pushes were reported done into the removed file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest
import sergeant
from reliability_report import Outcome, record
from scenario_support import HERE, Runs, children, supervised, wait_for
from scenario_workers import ran_queue
from sergeant.broker import Broker
from sergeant.config import Connector as ConnectorConfig
from sergeant.task import Task

BOUND = 60.0
LEASE_SECONDS = 2.0
SUFFIXES = ("", "-wal", "-shm")


def keep_old_file(path: Path, kept: Path) -> None:
    """Hard-link the database and its WAL under ``kept`` (the same files, another name)."""
    kept.parent.mkdir()
    for suffix in ("", "-wal"):
        if Path(f"{path}{suffix}").exists():
            os.link(f"{path}{suffix}", f"{kept}{suffix}")


def remove(how: str, path: Path, tmp_path: Path) -> None:
    if how == "replaced":
        other = tmp_path / "other.sqlite3"
        config = ConnectorConfig(type="local", params={"file_path": str(other)})
        with sergeant.connect(config) as fresh:
            fresh.queue_push("other", b"y")
        shutil.move(other, path)
        for suffix in SUFFIXES[1:]:
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        for suffix in SUFFIXES:
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def read_old_file(kept: Path, queue: str) -> tuple[set[int], set[int]]:
    """``(ids still queued, ids whose run was recorded)`` in a copy of the old file."""
    copy = kept.with_name("copy.sqlite3")
    for suffix in ("", "-wal"):
        if Path(f"{kept}{suffix}").exists():
            shutil.copyfile(f"{kept}{suffix}", f"{copy}{suffix}")
    config = ConnectorConfig(type="local", params={"file_path": str(copy)})
    with sergeant.connect(config) as old:
        broker = Broker(old)
        wait_for(
            lambda: sum(s.in_flight for s in old.queue_stats(queue)) == 0,
            LEASE_SECONDS + BOUND,
            "the leases of the stopped worker to run out in the old file",
        )
        queued: set[int] = set()
        while tasks := broker.pop_tasks(queue, 1000):
            queued.update(int(task.kwargs["id"]) for task in tasks)
        ran: set[int] = set()
        while batch := old.queue_pop_bulk(ran_queue(queue), 1000):
            ran.update(int(msgpack.unpackb(raw)["id"]) for raw in batch)
    return queued, ran


def within(probe: Callable[[], bool], since: float) -> float | None:
    """Seconds from ``since`` (a monotonic time) until ``probe()``; None past the bound."""
    while not probe():
        if time.monotonic() - since > BOUND:
            return None
        time.sleep(0.01)
    return time.monotonic() - since


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and "zombie" not in _status(pid)


def _status(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return ""


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_database_file_removed_under_running_processes(how: str, tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    kept = tmp_path / "kept" / "q.sqlite3"
    config = ConnectorConfig(type="local", params={"file_path": str(path)})
    queue = f"gone-{uuid.uuid4().hex[:8]}"
    runs = Runs()
    log = tmp_path / "workers.log"
    options = {"tasks_per_transaction": 5, "lease_seconds": LEASE_SECONDS}
    with sergeant.connect(config) as connector:
        connector.queue_push("warm-up", b"x")  # the file exists before anyone else opens it
    producer = subprocess.Popen(
        [sys.executable, str(HERE / "storage_gone_producer.py"), str(path), queue],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with supervised(config, queue, log, options=options) as supervisor:
            with sergeant.connect(config) as connector:

                def some_ran() -> bool:
                    runs.collect(connector, queue)
                    return len(runs.records) >= 20

                wait_for(some_ran, BOUND, "the worker to run tasks")
                old_workers = children(supervisor.pid)
                assert old_workers, "the supervisor's worker process"
                keep_old_file(path, kept)
                removal_started = time.time()
                remove(how, path, tmp_path)
                removed_at = time.time()  # a push that returned after this went nowhere
                removed = time.monotonic()
            stopped: dict[str, float] = {}

            def both_stopped() -> bool:
                for who, done in (
                    ("producer", producer.poll() is not None),
                    ("worker", not any(alive(pid) for pid in old_workers)),
                ):
                    if done and who not in stopped:
                        stopped[who] = time.monotonic() - removed
                return len(stopped) == 2

            within(both_stopped, removed)
            producer_stopped, worker_stopped = stopped.get("producer"), stopped.get("worker")
            # The supervisor's new worker process runs on the file now at the path.
            with sergeant.connect(config) as fresh:
                Broker(fresh).push_task(queue, Task(kwargs={"id": -1}))
                after = Runs()

                def probe_ran() -> bool:
                    after.collect(fresh, queue)
                    return -1 in after.by_id()

                replaced = within(probe_ran, time.monotonic()) is not None
    finally:
        if producer.poll() is None:
            producer.kill()
        output = producer.communicate()[0]
    stranded, ran_late = read_old_file(kept, queue)
    lines = output.splitlines()
    pushed = {
        int(line.split()[1]): float(line.split()[2]) for line in lines if line.startswith("pushed ")
    }
    done_after = sorted(i for i, at in pushed.items() if at > removed_at)
    during = sorted(i for i, at in pushed.items() if removal_started < at <= removed_at)
    errors = [line for line in lines if line.startswith("error ")]
    ran = set(runs.by_id()) | ran_late
    # Lost: reported pushed, then neither run nor left in the old file; and every push
    # reported done after the removal (into a file no process at the path will see).
    lost = sorted((set(pushed) - ran - stranded) | set(done_after))
    ran_of_pushed = set(pushed) & ran
    # Ran, but the ack went to a file already gone: still queued there too (at-least-once).
    ran_and_stranded = ran_of_pushed & stranded
    stranded_only = (set(pushed) & stranded) - ran
    text = log.read_text()
    verdict = (
        producer_stopped is not None
        and worker_stopped is not None
        and replaced
        and producer.returncode == 3
        and len(errors) == 1
        and str(path) in errors[0]
        and "StorageGoneError" in errors[0]
        and not done_after
        and not lost
        and f"StorageGoneError: sergeant-local database file_path {path}" in text
    )
    record(
        Outcome(
            scenario=f"13. SQLite file {how}",
            backend="local",
            load="a producer process pushing a task every 5 ms, 1 supervised worker process",
            faults="rm of the file with its -wal and -shm"
            if how == "deleted"
            else "another database file moved over it (old -wal and -shm removed)",
            lost=len(lost),
            duplicates=None,
            verdict="pass" if verdict else "fail",
            details=f"The producer stopped {_seconds(producer_stopped)} after, with "
            f"{errors[0][:110] if errors else 'no error'}...; the worker process "
            f"{_seconds(worker_stopped)} after, naming the file; its replacement ran a task "
            f"pushed to the new file: {replaced}. Pushes reported done after the removal: "
            f"{len(done_after)} ({len(during)} returned while it ran). Of {len(pushed)} "
            f"tasks pushed before, {len(ran_of_pushed)} ran ({len(ran_and_stranded)} of them "
            f"with their ack sent to the removed file) and {len(stranded_only)} never ran: "
            "stranded by the operator in the removed file (queued or in flight there, read "
            "through a hard link the test kept: the operator deleted them, no process lost "
            f"them); lost (neither, or pushed after the removal): {len(lost)}.",
            figures={
                "producer_seconds_to_stop": _figure(producer_stopped),
                "worker_seconds_to_stop": _figure(worker_stopped),
                "pushed_before": len(pushed),
                "ran": len(ran_of_pushed),
                "stranded": len(stranded_only),
                "done_after_removal": len(done_after),
            },
        )
    )
    assert verdict, (
        producer_stopped,
        worker_stopped,
        replaced,
        errors,
        done_after[:3],
        lost[:10],
        text[-1500:],
    )


def _seconds(value: float | None) -> str:
    return f"{value:.2f} s" if value is not None else f"NOT within {BOUND:.0f} s"


def _figure(value: float | None) -> float | str:
    return round(value, 3) if value is not None else "timeout"
