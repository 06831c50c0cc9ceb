"""``sergeant.worker``: the ``Worker`` base class and its control-flow exceptions."""

from __future__ import annotations

from sergeant.worker._exceptions import (
    WorkerException,
    WorkerInterrupt,
    WorkerMaxRetries,
    WorkerRequeue,
    WorkerRespawn,
    WorkerRetry,
    WorkerStop,
    WorkerTimedout,
)
from sergeant.worker._worker import Worker

__all__ = [
    "Worker",
    "WorkerException",
    "WorkerInterrupt",
    "WorkerMaxRetries",
    "WorkerRequeue",
    "WorkerRespawn",
    "WorkerRetry",
    "WorkerStop",
    "WorkerTimedout",
]
