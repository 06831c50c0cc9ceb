"""Scenario 3: storage faults for the ``local`` backend.

Disk full: the database lives on a small real filesystem (see
:mod:`faults_storage`); once it is full, pushes must fail with a clear
``StorageError`` naming the file and the cause, nothing stored before may be lost
or damaged, and pushes work again as soon as space returns.

Torn write: a child process pushes 10,000 items in ONE ``queue_push_bulk`` and is
SIGKILLed mid-call, at varied moments; the file must still pass
``PRAGMA integrity_check`` and hold all of that batch or none of it.
"""

from __future__ import annotations

import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sergeant
from faults_storage import (
    SmallDisk,
    TmpfsDisk,
    batch_items,
    checkpoint,
    integrity,
    random_items,
    small_disk,
)
from reliability_report import Outcome, record
from sergeant.config import Connector as ConnectorConfig
from sergeant.connector import Connector
from sergeant.errors import SergeantError, StorageError
from sergeant.testing import wait_until

HERE = Path(__file__).parent


def _local(path: Path) -> Connector:
    return sergeant.connect(ConnectorConfig(type="local", params={"file_path": str(path)}))


def _own_connection(connector: Connector) -> sqlite3.Connection:
    """The connector's connection of this thread (the page-cap fallback caps it)."""
    conn: sqlite3.Connection = connector._db._local.conn  # type: ignore[attr-defined]
    return conn


def _drain(connector: Connector, queue: str) -> list[bytes]:
    """Every ready item of ``queue``, reserved then acked, in the order handed out."""
    out: list[bytes] = []
    while True:
        got = connector.queue_reserve(queue, 1000, 300)
        if not got:
            return out
        out.extend(d.item for d in got)
        assert connector.queue_ack(queue, [d.receipt for d in got]) == len(got)


def _is_clear(error: BaseException, path: Path) -> bool:
    text = str(error)
    return isinstance(error, StorageError) and str(path) in text and "disk is full" in text


# Disk full ---------------------------------------------------------------------------


def _store_before(connector: Connector, rng: random.Random, cycle: int) -> dict[str, list[bytes]]:
    """Push a mix of items (bulk and single, both priorities); the order they must come back in."""
    queue = f"stored-{cycle}"
    high = random_items(rng, 40, 3000)
    normal = random_items(rng, 300, 3000)
    connector.queue_push_bulk(queue, normal[:200])
    for item in normal[200:]:
        connector.queue_push(queue, item)
    connector.queue_push_bulk(queue, high, priority="HIGH")
    return {queue: high + normal}


def _overflow(
    connector: Connector, rng: random.Random, queue: str, limit: int
) -> tuple[list[bytes], list[BaseException]]:
    """Push batches until three in a row fail; the items accepted and the errors seen."""
    accepted: list[bytes] = []
    errors: list[BaseException] = []
    streak = 0
    for _ in range(limit):
        batch = random_items(rng, 16, 4096)
        try:
            connector.queue_push_bulk(queue, batch)
        except SergeantError as exc:  # anything else is a finding and fails the test
            errors.append(exc)
            streak += 1
            if streak == 3:
                break
            continue
        streak = 0
        accepted.extend(batch)
    return accepted, errors


def _probe_while_full(
    connector: Connector, disk: SmallDisk, path: Path, expected: dict[str, list[bytes]], cycle: int
) -> dict[str, Any]:
    """What works while the disk is full: reads must; writes may fail, but only clearly."""
    seen: dict[str, Any] = {"unclear": []}
    for queue, items in expected.items():
        assert connector.queue_length(queue) == len(items), f"{queue} lost items while full"
    probes: tuple[tuple[str, Callable[[], bool]], ...] = (
        ("single push", lambda: connector.queue_push("probe", b"while full %d" % cycle)),
        ("key_set", lambda: connector.key_set(f"probe-key-{cycle}", b"while full")),
    )
    for what, call in probes:
        try:
            call()
            seen[what] = "worked"
        except SergeantError as exc:
            seen[what] = "refused"
            if not _is_clear(exc, path):
                seen["unclear"].append(f"{what}: {type(exc).__name__}: {exc}")
    if isinstance(disk, TmpfsDisk):  # a process opening the file now (a new worker)
        try:
            _local(path).close()
            seen["new connector"] = "opened"
        except SergeantError as exc:
            seen["new connector"] = "refused"
            if not isinstance(exc, StorageError) or str(path) not in str(exc):
                seen["unclear"].append(f"new connector: {type(exc).__name__}: {exc}")
        fresh = disk.folder / f"new-{cycle}.sqlite3"  # a database created on the full disk
        try:
            _local(fresh).close()
            seen["new file"] = "created"
        except SergeantError as exc:
            seen["new file"] = "refused"
            if not isinstance(exc, StorageError) or str(fresh) not in str(exc):
                seen["unclear"].append(f"new file: {type(exc).__name__}: {exc}")
    return seen


def test_disk_full(tmp_path: Path, soak: bool) -> None:
    cycles = 6 if soak else 2
    size = (16 if soak else 4) * 2**20
    rng = random.Random(3)
    expected: dict[str, list[bytes]] = {}
    first_error = ""
    unclear: list[str] = []
    refused = accepted_while_full = 0
    probes: list[dict[str, Any]] = []
    with small_disk(tmp_path, size) as disk:
        path = disk.folder / "queue.sqlite3"
        connector = _local(path)
        try:
            for cycle in range(cycles):
                expected.update(_store_before(connector, rng, cycle))
                assert connector.key_set(f"key-{cycle}", b"\xff\xfe stored before")
                # Odd cycles leave room for a few batches: the disk fills mid-transaction.
                disk.fill(_own_connection(connector), leave=(cycle % 2) * 256 * 1024)
                overflow = f"overflow-{cycle}"
                accepted, errors = _overflow(connector, rng, overflow, limit=4 * size // 32768)
                refused += len(errors)
                accepted_while_full += len(accepted)
                assert errors, f"the disk ({disk.kind}) never filled up"
                shown = str(errors[0]).replace(str(path), "<file>")
                first_error = first_error or f"{type(errors[0]).__name__}: {shown}"
                unclear += [f"{type(e).__name__}: {e}" for e in errors if not _is_clear(e, path)]
                probe = _probe_while_full(connector, disk, path, expected, cycle)
                unclear += probe.pop("unclear")
                probes.append(probe)
                if probe.get("single push") == "worked":
                    expected.setdefault("probe", []).append(b"while full %d" % cycle)
                closed_while_full = isinstance(disk, TmpfsDisk) and cycle % 2 == 1
                if closed_while_full:  # the process exits while the disk is full
                    connector.close()
                disk.free(None if closed_while_full else _own_connection(connector))
                if closed_while_full:
                    connector = _local(path)
                after = random_items(rng, 50, 4096)
                connector.queue_push_bulk(overflow, after)  # space is back: pushes work
                expected[overflow] = accepted + after
                assert integrity(path) == "ok"
        finally:
            connector.close()
        assert integrity(path) == "ok"
        with _local(path) as reopened:
            got = {queue: _drain(reopened, queue) for queue in expected}
            keys_intact = all(
                reopened.key_get(f"key-{cycle}") == b"\xff\xfe stored before"
                for cycle in range(cycles)
            )
        kind = disk.kind
    wanted = sum(len(items) for items in expected.values())
    lost = sum((Counter(items) - Counter(got[queue])).total() for queue, items in expected.items())
    duplicates = sum(len(got[queue]) - len(set(got[queue])) for queue in expected)
    intact = all(got[queue] == items for queue, items in expected.items())
    ok = intact and keys_intact and not unclear and lost == 0 and duplicates == 0
    record(
        Outcome(
            scenario="3. storage faults: disk full",
            backend="local",
            load=f"{wanted:,} items in {len(expected)} queues, {cycles} fill/free cycles",
            faults=f"disk full {cycles} times ({kind})",
            lost=lost,
            duplicates=duplicates,
            verdict="pass" if ok else "fail",
            details=(
                f"Disk: {kind}. {refused} pushes refused while full, first with "
                f"'{first_error}'; {accepted_while_full} items were accepted before the "
                "refusals (cycles that left some room) and all were kept. While full: reads "
                f"worked; single push {probes[0].get('single push')}, key_set "
                f"{probes[0].get('key_set')}, a new connector "
                f"{probes[0].get('new connector', 'not tried')}, a new database file "
                f"{probes[0].get('new file', 'not tried')}. Odd cycles closed the connector "
                "while full and reopened it after. After freeing space pushes worked at once; "
                "integrity_check ok; every item read back byte for byte in order."
                + (f" Unclear errors: {unclear[:3]}" if unclear else "")
            ),
            figures={"refused": refused, "cycles": cycles, "disk": kind},
        )
    )
    assert not unclear, f"errors that do not name the file and the full disk: {unclear[:5]}"
    assert lost == 0
    assert duplicates == 0
    assert intact, "items came back changed or out of order"
    assert keys_intact


# Torn write ----------------------------------------------------------------------------

BATCH = 10_000
ITEM_SIZE = 512  # 5 MB a batch: more than SQLite's page cache, so pages spill mid-transaction
BEFORE = 100


class _Child:
    """The push child, with its stdout read unbuffered (so a select never misses a line)."""

    def __init__(self, path: Path, batch: int) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                *(str(HERE / "faults_push_child.py"), str(path), "torn", str(batch)),
                *(str(BATCH), str(ITEM_SIZE)),
            ],
            cwd=HERE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
        )
        self.out = b""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + 60
        while b"\n" not in self.out:
            ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
            chunk = os.read(fd, 4096) if ready else b""
            if not chunk:
                self.proc.kill()
                _, err = self.proc.communicate(timeout=30)
                raise AssertionError(f"the push child failed to start: {err[-2000:]!r}")
            self.out += chunk
        assert self.out.startswith(b"calling\n"), self.out

    def finish(self, timeout: float) -> tuple[str, str]:
        """Wait for the child to end; its whole stdout and the tail of its stderr."""
        out, err = self.proc.communicate(timeout=timeout)
        return (self.out + out).decode(), err.decode(errors="replace")[-500:]


def _round(tmp_path: Path, batch: int, kill_after: float | None) -> dict[str, Any]:
    """One child, one bulk push, one SIGKILL (``kill_after`` None: as soon as the WAL grows)."""
    path = tmp_path / f"torn-{batch}.sqlite3"
    before = [b"before %d" % i for i in range(BEFORE)]
    with _local(path) as connector:
        connector.queue_push_bulk("torn", before)
    checkpoint(path)  # the WAL is empty now: any growth is the child's transaction
    wal = Path(f"{path}-wal")
    child = _Child(path, batch)
    proc = child.proc
    if kill_after is None:
        wait_until(
            lambda: proc.poll() is not None or (wal.exists() and wal.stat().st_size > 0),
            timeout=60,
            interval=0.0005,
            message="the child's transaction to write its first WAL pages",
        )
    else:
        time.sleep(kill_after)  # the injected fault's timing, not a wait for a condition
    exited_first = proc.poll() is not None
    wal_bytes = wal.stat().st_size if wal.exists() else 0
    proc.send_signal(signal.SIGKILL)
    out, err = child.finish(timeout=60)
    killed = proc.returncode == -signal.SIGKILL
    check = integrity(path)
    with _local(path) as connector:
        length = connector.queue_length("torn", include_delayed=True)
        got = _drain(connector, "torn")
    batch_stored = length - BEFORE
    if batch_stored == BATCH:
        landed = "after"
    elif batch_stored == 0:
        landed = "during" if wal_bytes > 0 else "before"
    else:
        landed = "torn"
    committed = before + batch_items(batch, BATCH, ITEM_SIZE)
    whole = got in (before, committed)
    lost = (Counter(committed if landed == "after" else before) - Counter(got)).total()
    return {
        "landed": landed,
        "integrity": check,
        "whole": whole,
        "killed": killed and not exited_first,
        "done_printed": "done" in out,
        "stored": batch_stored,
        "lost": lost if landed != "torn" else 0,
        "error": err[-500:] if not killed else "",
    }


def _calibrate(tmp_path: Path) -> float:
    """Seconds from 'calling' to 'done' of an unkilled child (the window to aim kills at)."""
    path = tmp_path / "calibrate.sqlite3"
    _local(path).close()
    child = _Child(path, 0)
    started = time.monotonic()
    out, err = child.finish(timeout=120)
    took = time.monotonic() - started
    assert child.proc.returncode == 0, f"the unkilled push failed: {err}"
    assert "done" in out
    with _local(path) as connector:
        assert connector.queue_length("torn") == BATCH
    return took


def test_torn_write(tmp_path: Path, soak: bool) -> None:
    rounds = 40 if soak else 8
    rng = random.Random()
    window = _calibrate(tmp_path)
    results = []
    for batch in range(1, rounds + 1):
        # Half the kills wait for the first WAL pages (mid-transaction by construction),
        # half land at a random moment of the call, some after its commit.
        kill_after = None if batch % 2 else rng.uniform(0, 1.1 * window)
        results.append(_round(tmp_path, batch, kill_after))
    landed = {key: sum(r["landed"] == key for r in results) for key in ("before", "during")}
    landed["after"] = sum(r["landed"] == "after" for r in results)
    torn = sum(r["landed"] == "torn" or not r["whole"] for r in results)
    bad_integrity = [r["integrity"] for r in results if r["integrity"] != "ok"]
    not_killed = [r for r in results if not r["killed"]]
    ok = torn == 0 and not bad_integrity
    record(
        Outcome(
            scenario="3. storage faults: torn write",
            backend="local",
            load=f"{rounds} x one queue_push_bulk of {BATCH:,} items of {ITEM_SIZE} B",
            faults=f"{rounds} SIGKILLs mid-call",
            lost=sum(r["lost"] for r in results),
            duplicates=None,
            verdict="pass" if ok else "fail",
            details=(
                f"Kills landed {landed['before']} before the first write, {landed['during']} "
                f"during the transaction (WAL pages written, no commit), {landed['after']} after "
                f"the commit; {len(not_killed)} children had already exited. An unkilled push "
                f"took {window:.2f} s. Every file passed integrity_check "
                f"({len(bad_integrity)} failed) and held all or none of its batch "
                f"({torn} torn)."
            ),
            figures={"rounds": rounds, **landed, "torn": torn, "window_s": round(window, 3)},
        )
    )
    assert not bad_integrity, f"integrity_check failed: {bad_integrity}"
    assert torn == 0, f"partial batches: {[r for r in results if r['landed'] == 'torn']}"
    assert landed["during"] > 0, "no kill landed mid-transaction: the scenario proved nothing"
