"""Marks in storage naming the redelivered task a worker is running alone.

When a worker dies (``os._exit``, a segfault, the OOM killer), every task of
its batch not yet acked comes back with ``deliveries`` one higher, the one that
killed it and its innocent neighbours alike. The runner then runs such tasks
one at a time, each acked before the next, and marks each in storage while it
runs: a mark still there when the task comes back says the task was running
alone when its worker died. The runner runs marked tasks after the rest of
their batch, so the next death hands back no neighbour with the culprit, which
alone reaches ``max_deliveries`` and the dead-letter queue.

A mark is a key (``sergeant:running-alone:<queue>:<digest of the payload>``)
deleted once the task is settled; a stale one only changes the order in which
a batch runs. Marks are advice, so storage that cannot be reached (a node of
several down) is a warning: the task then runs alone without its mark.
"""

from __future__ import annotations

import hashlib
import logging

from sergeant.connector import Connector
from sergeant.errors import SergeantError

__all__ = ["RunningMarks"]


class RunningMarks:
    """Set and clear the marks of one queue's tasks."""

    def __init__(self, connector: Connector, queue: str, logger: logging.Logger) -> None:
        self.connector = connector
        self.prefix = f"sergeant:running-alone:{queue}:"
        self.logger = logger

    def key(self, payload: bytes) -> str:
        """The mark's key for ``payload``."""
        return self.prefix + hashlib.blake2b(payload, digest_size=16).hexdigest()

    def mark(self, payload: bytes) -> bool:
        """Mark ``payload`` as running; False when it was marked already (it was
        running when a worker died)."""
        try:
            return self.connector.key_set(self.key(payload), b"1")
        except SergeantError as exc:
            self.logger.warning(
                "could not mark a redelivered task as running (it runs alone unmarked): %s", exc
            )
            return True

    def clear(self, payload: bytes) -> None:
        """The task is settled: remove its mark."""
        try:
            self.connector.key_delete(self.key(payload))
        except SergeantError as exc:
            self.logger.warning(
                "could not clear the running mark of a task (a stale mark only reorders a"
                " later batch): %s",
                exc,
            )
