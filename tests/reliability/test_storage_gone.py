"""Scenario 13: the SQLite file deleted, or replaced, under a running worker and producer.

A producer process pushes a task every 5 ms and a worker process under the
supervisor runs them. Then the operator removes the database file with its
``-wal`` and ``-shm`` (or moves another database file over it). Before the fix
both processes went on working on the unlinked file without a word, while
processes started later used a new file: the queue was split silently.

Verdict: within the bound, the producer stops with a StorageError naming
``file_path`` and no push is reported done after the file was removed; the
worker process that had it open stops the same way (the supervisor then starts
one on the file now at the path); nothing is acknowledged into a file no
process can see. Tasks already in the removed file went with it: the operator
deleted them, and the figures count them apart.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sergeant
from reliability_report import Outcome, record
from scenario_support import HERE, Runs, supervised, wait_for
from sergeant.config import Connector as ConnectorConfig

BOUND = 30.0


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_database_file_removed_under_running_processes(how: str, tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    config = ConnectorConfig(type="local", params={"file_path": str(path)})
    queue = f"gone-{uuid.uuid4().hex[:8]}"
    runs = Runs()
    log = tmp_path / "workers.log"
    with sergeant.connect(config) as connector:
        connector.queue_push("warm-up", b"x")  # the file exists before anyone else opens it
        producer = subprocess.Popen(
            [sys.executable, str(HERE / "storage_gone_producer.py"), str(path), queue],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            with supervised(config, queue, log, options={"tasks_per_transaction": 5}):

                def some_ran() -> bool:
                    runs.collect(connector, queue)
                    return len(runs.records) >= 20

                wait_for(some_ran, BOUND, "the worker to run tasks")
                if how == "deleted":
                    for suffix in ("", "-wal", "-shm"):
                        Path(f"{path}{suffix}").unlink(missing_ok=True)
                else:
                    other = tmp_path / "other.sqlite3"
                    with sergeant.connect(
                        ConnectorConfig(type="local", params={"file_path": str(other)})
                    ) as fresh:
                        fresh.queue_push("other", b"y")
                    shutil.move(other, path)
                    for suffix in ("-wal", "-shm"):
                        Path(f"{other}{suffix}").unlink(missing_ok=True)
                removed_at = time.time()  # pushes that returned after this went nowhere
                stopped = wait_for(
                    lambda: producer.poll() is not None, BOUND, "the producer to stop"
                )
                wait_for(
                    lambda: "sergeant-local database file_path" in log.read_text(),
                    BOUND,
                    "the worker process to stop on it",
                )
        finally:
            if producer.poll() is None:
                producer.kill()
            output = producer.communicate()[0]
    lines = output.splitlines()
    pushed = [line.split() for line in lines if line.startswith("pushed ")]
    after = [p for p in pushed if float(p[2]) > removed_at]
    errors = [line for line in lines if line.startswith("error ")]
    text = log.read_text()
    verdict = (
        producer.returncode == 3
        and len(errors) == 1
        and str(path) in errors[0]
        and "StorageGoneError" in errors[0]
        and not after
        and str(path) in text
    )
    record(
        Outcome(
            scenario=f"13. SQLite file {how}",
            backend="local",
            load="a producer process pushing a task every 5 ms, 1 worker process",
            faults="rm of the file with its -wal and -shm"
            if how == "deleted"
            else "another database file moved over it",
            lost=len(after),
            duplicates=None,
            verdict="pass" if verdict else "fail",
            details=f"The producer stopped {stopped:.2f} s after, with: "
            f"{errors[0][:160] if errors else 'no error'}...; pushes reported done after the "
            f"file was {how}: {len(after)}; {len(pushed)} pushed before (those in the "
            f"removed file went with it); the worker process stopped naming the file too.",
            figures={"seconds_to_stop": round(stopped, 3), "pushed_before": len(pushed)},
        )
    )
    assert verdict, (errors, after[:3], text[-1500:])
