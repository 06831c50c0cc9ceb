"""The concurrency scenario (4): run the processes, read their logs, check the invariants.

Events in a child's log (:mod:`concurrency_child`), times from ``time.monotonic()``:

- ``["push", [ids], ok]``: one push or bulk push, logged after it returned.
- ``["reserve", started, returned, lease, [[id, deliveries], ...]]``.
- ``["ack", id, deliveries, acked, started, ended, how]``: ``how`` is ``ack``,
  ``ack_and_reserve`` or ``dead`` (acked, then pushed to ``<queue>:dead``).
- ``["release", id, deliveries, released, started]``.
- ``["lock", name, start, end, released]``: a window inside the holding; ``["lock_busy", name]``.
- ``["error", traceback]``, ``["ops", {kind: count}]``.

Invariants, checked by :func:`check`:

- pushed = acked + still queued + in flight + dead (counts, storage snapshot taken
  right after the processes ended), and by identity: every pushed id ends in
  exactly one of acked, drained from the queue afterwards, or the dead queue;
- no item acked twice (an ack that returned success twice for one id);
- no item handed out twice at once: each (id, deliveries) pair once, and never a
  new delivery before the previous lease could have run out unless it was
  released first; no acked item handed out again;
- an expired receipt acks or releases nothing;
- never two holders of one lock at once (windows sorted per lock, no overlap), and
  every release of a held lock (TTL far longer than the window) succeeds.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sergeant
from sergeant.testing import wait_until

HERE = Path(__file__).parent

#: Slack for comparing our monotonic times with the storage's lease clock.
MARGIN = 0.05

__all__ = ["Ledger", "Snapshot", "Verdict", "check", "drain", "finish", "run_processes", "snapshot"]


@dataclass
class Ledger:
    """Everything the processes logged, merged."""

    pushed: list[str] = field(default_factory=list)
    push_failures: int = 0
    # id -> [(deliveries, started, returned, lease)]
    reserves: dict[str, list[tuple[int, float, float, float]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # (id, deliveries, acked, started, ended, how)
    acks: list[tuple[str, int, int, float, float, str]] = field(default_factory=list)
    # (id, deliveries, released, started)
    releases: list[tuple[str, int, int, float]] = field(default_factory=list)
    # name -> [(start, end, released, proc)]
    locks: dict[str, list[tuple[float, float, bool, int]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    lock_busy: int = 0
    errors: list[str] = field(default_factory=list)
    ops: Counter[str] = field(default_factory=Counter)

    def read(self, path: Path, proc: int) -> None:
        """Merge one process's log."""
        for line in path.read_text().splitlines():
            event = json.loads(line)
            kind = event[0]
            if kind == "push":
                if event[2]:
                    self.pushed.extend(event[1])
                else:
                    self.push_failures += len(event[1])
            elif kind == "reserve":
                _, started, returned, lease, got = event
                for item, deliveries in got:
                    self.reserves[item].append((deliveries, started, returned, lease))
            elif kind == "ack":
                self.acks.append(tuple(event[1:]))
            elif kind == "release":
                self.releases.append(tuple(event[1:]))
            elif kind == "lock":
                _, name, start, end, released = event
                self.locks[name].append((start, end, released, proc))
            elif kind == "lock_busy":
                self.lock_busy += 1
            elif kind == "error":
                self.errors.append(event[1])
            elif kind == "ops":
                self.ops.update(event[1])


@dataclass
class Snapshot:
    """Storage counts right after the processes ended."""

    ready: int
    delayed: int
    in_flight: int

    @property
    def total(self) -> int:
        return self.ready + self.delayed + self.in_flight


@dataclass
class Verdict:
    """Counts and every broken invariant (empty ``violations``: pass)."""

    pushed: int = 0
    acked: int = 0
    dead: int = 0
    left: int = 0
    in_flight_at_end: int = 0
    lost: int = 0
    acked_twice: int = 0
    stale_refused: int = 0
    redeliveries: int = 0
    lock_windows: int = 0
    violations: list[str] = field(default_factory=list)

    def fail(self, what: str, examples: list[Any]) -> None:
        if examples:
            self.violations.append(f"{what}: {len(examples)}, e.g. {examples[:5]}")


def run_processes(
    connector_spec: dict[str, Any],
    queue: str,
    locks: list[str],
    folder: Path,
    *,
    processes: int,
    seconds: float,
    seed: int,
) -> tuple[list[Path], list[str]]:
    """Run ``processes`` children for ``seconds``; their logs, and failures (exit code, stderr)."""
    running = []
    for proc in range(processes):
        log = folder / f"child-{proc}.jsonl"
        spec = {
            "connector": connector_spec,
            "queue": queue,
            "locks": locks,
            "proc": proc,
            "seed": seed * 1000 + proc,
            "seconds": seconds,
            "log": str(log),
        }
        child = subprocess.Popen(
            [sys.executable, str(HERE / "concurrency_child.py"), json.dumps(spec)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        running.append((log, child))
    failures = []
    for log, child in running:
        try:
            _, stderr = child.communicate(timeout=seconds + 120)
        except subprocess.TimeoutExpired:
            child.kill()
            _, stderr = child.communicate()
        if child.returncode != 0:
            failures.append(f"{log.name} exited {child.returncode}: {stderr[-2000:]}")
    return [log for log, _ in running], failures


def snapshot(connector: sergeant.Connector, queue: str) -> Snapshot:
    """One stats call per node: ready, delayed and in-flight of one moment on each."""
    stats = connector.queue_stats(queue)
    return Snapshot(
        sum(s.ready for s in stats), sum(s.delayed for s in stats), sum(s.in_flight for s in stats)
    )


def drain(connector: sergeant.Connector, queue: str, timeout: float) -> tuple[int, list[str]]:
    """Wait out the leases and delays, then reserve and ack everything left.

    Returns ``queue_length(include_delayed=True)`` once nothing was in flight or
    delayed, and the ids taken.
    """

    def settled() -> bool:
        now = snapshot(connector, queue)
        return now.in_flight == 0 and now.delayed == 0

    wait_until(settled, timeout=timeout, message="leases and delays to run out")
    length = connector.queue_length(queue, include_delayed=True)
    taken: list[str] = []
    while got := connector.queue_reserve(queue, 1000, 60):
        taken.extend(d.item.decode() for d in got)
        acked = connector.queue_ack(queue, [d.receipt for d in got])
        assert acked == len(got), f"draining: acked {acked} of {len(got)} fresh receipts"
    return length, taken


def _pop_all(connector: sergeant.Connector, queue: str) -> list[str]:
    out: list[str] = []
    while batch := connector.queue_pop_bulk(queue, 1000):
        out.extend(item.decode() for item in batch)
    return out


def check(
    ledger: Ledger,
    at_end: Snapshot,
    length_after: int,
    drained: list[str],
    dead_queue: list[str],
) -> Verdict:
    """Every invariant of the scenario over the merged logs and what storage held after."""
    verdict = Verdict(
        pushed=len(ledger.pushed),
        dead=len(dead_queue),
        left=at_end.total,
        in_flight_at_end=at_end.in_flight,
    )
    verdict.fail("children failed", ledger.errors)
    verdict.fail(
        "pushes that returned False", [ledger.push_failures] if ledger.push_failures else []
    )
    pushed = set(ledger.pushed)
    verdict.fail("ids pushed twice (test bug)", _repeated(ledger.pushed))

    ok_acks = [a for a in ledger.acks if a[2]]
    verdict.fail("acks returning more than 1 for one receipt", [a for a in ok_acks if a[2] != 1])
    acked_by: Counter[str] = Counter(a[0] for a in ok_acks)
    twice = [item for item, n in acked_by.items() if n > 1]
    verdict.acked_twice = len(twice)
    verdict.fail("items acked twice", twice)
    acked = {a[0] for a in ok_acks if a[5] != "dead"}
    dead_acked = {a[0] for a in ok_acks if a[5] == "dead"}
    verdict.acked = sum(1 for a in ok_acks if a[5] != "dead")

    # Counts: pushed = acked + still queued + in flight + dead.
    counted = verdict.acked + at_end.total + len(dead_queue)
    if verdict.pushed != counted:
        verdict.violations.append(
            f"pushed {verdict.pushed} != acked {verdict.acked} + queued "
            f"{at_end.ready + at_end.delayed} + in flight {at_end.in_flight} + dead "
            f"{len(dead_queue)} = {counted}"
        )
    if length_after != at_end.total:
        verdict.violations.append(
            f"after the leases ran out queue_length says {length_after}, "
            f"the snapshot held {at_end.total}"
        )

    # Identity: each pushed id ends in exactly one place.
    left = set(drained)
    verdict.fail("ids drained twice", _repeated(drained))
    verdict.fail("ids twice in the dead queue", _repeated(dead_queue))
    verdict.fail(
        "dead-lettered ids missing from the dead queue", sorted(dead_acked - set(dead_queue))
    )
    verdict.fail("dead-queue ids never dead-lettered", sorted(set(dead_queue) - dead_acked))
    verdict.fail("acked ids still in the queue", sorted(acked & left))
    verdict.fail("dead ids still in the queue", sorted(set(dead_queue) & left))
    lost = sorted(pushed - acked - left - set(dead_queue))
    verdict.lost = len(lost)
    verdict.fail("pushed ids found nowhere (lost)", lost)
    verdict.fail("ids never pushed", sorted((left | set(ledger.reserves)) - pushed))

    _check_deliveries(ledger, verdict)
    _check_locks(ledger, verdict)
    return verdict


def _check_deliveries(ledger: Ledger, verdict: Verdict) -> None:
    returned_at = {
        (item, d): (started, returned, lease)
        for item, got in ledger.reserves.items()
        for d, started, returned, lease in got
    }
    released_at: dict[tuple[str, int], float] = {
        (item, d): started for item, d, released, started in ledger.releases if released
    }
    acked_at = {a[0]: a[4] for a in ledger.acks if a[2]}

    doubles, overlapping, resurrected = [], [], []
    for item, got in ledger.reserves.items():
        got = sorted(got)  # by deliveries: the storage's order of hand-outs
        verdict.redeliveries += len(got) - 1
        doubles += [(item, d) for d in _repeated([d for d, *_ in got])]
        for (d1, started1, _, lease1), (d2, _, returned2, _) in itertools.pairwise(got):
            released = released_at.get((item, d1))
            freed_early = released is not None and released < returned2
            if returned2 < started1 + lease1 - MARGIN and not freed_early:
                overlapping.append((item, d1, d2))
        if item in acked_at:
            resurrected += [(item, d) for d, started, *_ in got if started > acked_at[item]]
    verdict.fail("(id, deliveries) handed out twice", doubles)
    verdict.fail("items handed out again while their lease was live", overlapping)
    verdict.fail("acked items handed out again", resurrected)

    stale_ok = []
    uses = [(a[0], a[1], a[2], a[3], a[5]) for a in ledger.acks]
    uses += [(item, d, n, started, "release") for item, d, n, started in ledger.releases]
    for item, d, done, started, how in uses:
        _, returned, lease = returned_at[(item, d)]
        if started > returned + lease + MARGIN:
            if done:
                stale_ok.append((item, d, how, round(started - returned - lease, 3)))
            else:
                verdict.stale_refused += 1
    verdict.fail("expired receipts that still acked or released", stale_ok)


def _check_locks(ledger: Ledger, verdict: Verdict) -> None:
    overlaps, lost_ownership = [], []
    for name, windows in ledger.locks.items():
        windows = sorted(windows)
        verdict.lock_windows += len(windows)
        lost_ownership += [(name, proc) for _, _, released, proc in windows if not released]
        for (_, end1, _, proc1), (start2, _, _, proc2) in itertools.pairwise(windows):
            if start2 < end1:
                overlaps.append((name, proc1, proc2, round(end1 - start2, 4)))
    verdict.fail("lock windows of two holders overlapping", overlaps)
    verdict.fail("releases of a held lock that failed", lost_ownership)


def _repeated(values: list[Any]) -> list[Any]:
    return [value for value, n in Counter(values).items() if n > 1]


def finish(
    connector: sergeant.Connector, queue: str, logs: list[Path], timeout: float = 30
) -> tuple[Ledger, Verdict]:
    """Snapshot the storage, drain it, read the logs and check everything."""
    at_end = snapshot(connector, queue)
    length_after, drained = drain(connector, queue, timeout)
    dead_queue = _pop_all(connector, f"{queue}:dead")
    ledger = Ledger()
    for proc, log in enumerate(logs):
        if log.exists():
            ledger.read(log, proc)
        else:
            ledger.errors.append(f"{log.name} was never written")
    return ledger, check(ledger, at_end, length_after, drained, dead_queue)
