"""A worker process's live counters, shared with its supervisor through a small file.

The worker writes, the supervisor reads: counts for the progress line and the
summary, and ``kill_after``, the ``time.monotonic()`` past which a task overran
``timeout + grace_period`` and the supervisor kills the process. Times are
``time.monotonic()`` (task times included, for the rate): CLOCK_MONOTONIC on
Linux is one clock for the whole system, so the supervisor compares them with
its own, and a step of the wall clock moves none of them.
"""

from __future__ import annotations

import mmap
import os
import struct

import attrs

__all__ = ["STATUS_ENV", "Counters", "StatusFile"]

#: Environment variable naming the status file of a supervised worker process.
STATUS_ENV = "SERGEANT_WORKER_STATUS_FILE"

_LAYOUT = struct.Struct("<3d7q")


@attrs.define
class Counters:
    """What a worker has done so far."""

    done: int = 0
    failed: int = 0
    timed_out: int = 0
    retried: int = 0
    requeued: int = 0
    dead: int = 0
    processed: int = 0
    first_task_at: float = 0.0
    last_task_at: float = 0.0

    def add(self, other: Counters) -> None:
        """Add ``other``'s counts to these (time span widened to cover both)."""
        for name in ("done", "failed", "timed_out", "retried", "requeued", "dead", "processed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.first_task_at and (
            not self.first_task_at or other.first_task_at < self.first_task_at
        ):
            self.first_task_at = other.first_task_at
        self.last_task_at = max(self.last_task_at, other.last_task_at)

    def rate(self) -> float:
        """Tasks per second between the first and the last task."""
        span = self.last_task_at - self.first_task_at
        return self.processed / span if span > 0 else 0.0


class StatusFile:
    """The fixed-size record behind one worker process's counters."""

    size = _LAYOUT.size

    def __init__(self, path: str) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < self.size:
                os.ftruncate(fd, self.size)
            self._map = mmap.mmap(fd, self.size)
        finally:
            os.close(fd)

    def write(self, counters: Counters, kill_after: float) -> None:
        """Store the counters and the kill deadline (0: none)."""
        _LAYOUT.pack_into(
            self._map,
            0,
            kill_after,
            counters.first_task_at,
            counters.last_task_at,
            counters.done,
            counters.failed,
            counters.timed_out,
            counters.retried,
            counters.requeued,
            counters.dead,
            counters.processed,
        )

    def read(self) -> tuple[Counters, float]:
        """The counters and kill deadline last written."""
        values = _LAYOUT.unpack_from(self._map, 0)
        done, failed, timed_out, retried, requeued, dead, processed = values[3:]
        counters = Counters(
            done, failed, timed_out, retried, requeued, dead, processed, values[1], values[2]
        )
        return counters, float(values[0])

    def close(self) -> None:
        """Unmap the file (it stays on disk for the supervisor to remove)."""
        self._map.close()
