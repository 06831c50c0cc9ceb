"""The node-outage scenario's moving parts: child processes, what they report, phases.

:class:`Fleet` starts one producer and a few workers (``outage_child.py``) on
one queue and follows their output files; :class:`Timeline` marks the phases
the test goes through (before, node killed, node paused...) so
:func:`throughput` can say how many tasks were pushed and run per second in each.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sergeant.testing import wait_until

__all__ = ["Fleet", "Follower", "Phase", "Timeline", "throughput"]

HERE = Path(__file__).resolve().parent


class Follower:
    """Reads the complete lines appended to a file since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def new_lines(self) -> list[list[str]]:
        """New lines, each split into its fields (the last field keeps its spaces)."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        self._offset += len(data)
        data, self._partial = self._partial + data, b""
        lines = data.split(b"\n")
        self._partial = lines.pop()
        return [line.decode().split(" ", 4) for line in lines if line]


@dataclass
class Phase:
    """A span of the run: ``name`` from ``start`` to ``end`` (epoch seconds)."""

    name: str
    start: float
    end: float = 0.0

    @property
    def seconds(self) -> float:
        return max(self.end - self.start, 1e-9)


@dataclass
class Timeline:
    """The phases in order; :meth:`enter` closes the current one and opens the next."""

    phases: list[Phase] = field(default_factory=list)

    def enter(self, name: str) -> None:
        now = time.time()
        if self.phases:
            self.phases[-1].end = now
        self.phases.append(Phase(name, now))

    def close(self) -> None:
        if self.phases and not self.phases[-1].end:
            self.phases[-1].end = time.time()


class Fleet:
    """A producer and ``workers`` worker processes on ``queue``, and what they report."""

    def __init__(self, folder: Path, connector: dict[str, Any], queue: str, **knobs: Any) -> None:
        self.folder = folder
        self.base = {"connector": connector, "queue": queue}
        self.knobs = knobs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.followers: dict[str, Follower] = {}
        #: id -> when its push returned
        self.pushed: dict[int, float] = {}
        self.push_errors: list[str] = []
        #: (when, seconds, tasks) per push call of the producer that returned
        self.push_calls: list[tuple[float, float, int]] = []
        self.producer_ended = False
        #: (when, id, deliveries) per task run, from every worker
        self.runs: list[tuple[float, int, int]] = []
        self.ready: set[str] = set()
        self.worker_errors: list[str] = []
        self.warnings: Counter[str] = Counter()

    # Processes ------------------------------------------------------------

    def _start(self, name: str, role: str, **spec: Any) -> None:
        out = self.folder / f"{name}.out"
        spec = {**self.base, **spec, "out": str(out)}
        with (self.folder / f"{name}.stderr").open("wb") as stderr:
            self.processes[name] = subprocess.Popen(
                [sys.executable, str(HERE / "outage_child.py"), role, json.dumps(spec)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                cwd=HERE,
            )
        self.followers[name] = Follower(out)

    def start_workers(self, count: int, timeout: float = 60) -> None:
        """Start ``count`` workers and wait until each has connected."""
        names = [f"worker-{index}" for index in range(count)]
        for name in names:
            self._start(
                name,
                "worker",
                batch=self.knobs["batch"],
                lease_seconds=self.knobs["lease_seconds"],
            )
        wait_until(
            lambda: self.poll() or self.ready >= set(names),
            timeout=timeout,
            message=f"{count} workers to connect",
        )

    def start_producer(self, timeout: float = 60) -> None:
        """Start the producer and wait for its first push."""
        self._start("producer", "producer", rate=self.knobs["rate"], bulk=self.knobs["bulk"])
        wait_until(lambda: self.poll() or self.pushed, timeout=timeout, message="the first push")

    def stop_producer(self, timeout: float = 30) -> None:
        """SIGTERM the producer and wait until it has finished its last push."""
        self.processes["producer"].send_signal(signal.SIGTERM)
        wait_until(
            lambda: self.poll() or self.producer_ended,
            timeout=timeout,
            message="the producer to stop",
        )

    def stop_workers(self, timeout: float = 30) -> dict[str, int | None]:
        """SIGTERM every worker; their exit codes (None: had to be killed)."""
        workers = {n: p for n, p in self.processes.items() if n.startswith("worker")}
        for process in workers.values():
            process.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for name, process in workers.items():
            try:
                codes[name] = process.wait(timeout)
            except subprocess.TimeoutExpired:
                codes[name] = None
        self.poll()
        return codes

    def kill_all(self) -> None:
        """SIGKILL whatever still runs (the test's cleanup)."""
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)

    def stderr_tail(self, name: str, lines: int = 15) -> str:
        path = self.folder / f"{name}.stderr"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    # Output ---------------------------------------------------------------

    def poll(self) -> bool:
        """Read what the children wrote since the last call; False (for ``wait_until``)."""
        for name, follower in self.followers.items():
            for fields in follower.new_lines():
                self._take(name, fields)
        return False

    def _take(self, name: str, fields: list[str]) -> None:
        kind, when = fields[0], float(fields[1])
        if kind == "ok":
            first, count = int(fields[2]), int(fields[3])
            for task_id in range(first, first + count):
                self.pushed[task_id] = when
            self.push_calls.append((when, float(fields[4]), count))
        elif kind == "error":
            self.push_errors.append(" ".join(fields[2:]))
        elif kind == "end":
            self.producer_ended = True
        elif kind == "ready":
            self.ready.add(name)
        elif kind == "ran":
            self.runs.append((when, int(fields[2]), int(fields[3])))
        elif kind == "log":
            level, logger, text = fields[2], fields[3], fields[4] if len(fields) > 4 else ""
            if level in ("ERROR", "CRITICAL"):
                self.worker_errors.append(f"{name}: {level} {logger}: {text}")
            else:
                self.warnings[re.sub(r"\d+", "N", text.split(":")[0])] += 1
        elif kind == "summary":
            self.worker_errors.append(f"{name}: {' '.join(fields[2:])}")

    def add_pushed(self, ids: Iterable[int], when: float) -> None:
        """Count tasks pushed by someone else (the test) as pushed at ``when``."""
        for task_id in ids:
            self.pushed[task_id] = when

    def wait_pushed(self, more: int, timeout: float) -> None:
        """Wait until the producer has pushed ``more`` tasks beyond what it has now."""
        self.poll()
        target = len(self.pushed) + more
        wait_until(
            lambda: self.poll() or len(self.pushed) >= target,
            timeout=timeout,
            message=f"the producer to push {more} more tasks",
        )


def throughput(phases: list[Phase], fleet: Fleet) -> dict[str, dict[str, float]]:
    """Per kind of phase (phases of one name add up): seconds, tasks the producer
    pushed per second, tasks run per second, and the producer's slowest push call."""
    totals: dict[str, list[float]] = {}
    for phase in phases:
        calls = [(took, n) for when, took, n in fleet.push_calls if phase.start <= when < phase.end]
        pushed = sum(n for _, n in calls)
        ran = sum(1 for when, _, _ in fleet.runs if phase.start <= when < phase.end)
        slowest = max((took for took, _ in calls), default=0.0)
        row = totals.setdefault(phase.name, [0.0, 0, 0, 0.0])
        row[0] += phase.seconds
        row[1] += pushed
        row[2] += ran
        row[3] = max(row[3], slowest)
    return {
        name: {
            "seconds": round(seconds, 2),
            "pushed_per_s": round(pushed / seconds),
            "run_per_s": round(ran / seconds),
            "slowest_push_s": round(slowest, 3),
        }
        for name, (seconds, pushed, ran, slowest) in totals.items()
    }
