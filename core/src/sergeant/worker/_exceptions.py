"""Control-flow exceptions of the worker's actions, as in Sergeant.

They derive from ``BaseException`` so a ``work`` method's ``except Exception``
cannot swallow a timeout, a retry or a stop.
"""

from __future__ import annotations

__all__ = [
    "WorkerException",
    "WorkerInterrupt",
    "WorkerMaxRetries",
    "WorkerRequeue",
    "WorkerRespawn",
    "WorkerRetry",
    "WorkerStop",
    "WorkerTimedout",
]


class WorkerException(BaseException):
    """Base of the worker's control-flow exceptions."""


class WorkerTimedout(WorkerException):
    """The task ran past ``timeouts.timeout``."""


class WorkerRequeue(WorkerException):
    """``requeue`` put the task back unchanged."""


class WorkerRetry(WorkerException):
    """``retry`` put the task back with ``run_count`` + 1."""


class WorkerMaxRetries(WorkerException):
    """``retry`` was called once ``max_retries`` was reached."""


class WorkerInterrupt(WorkerException):
    """Leave the work loop."""


class WorkerRespawn(WorkerInterrupt):
    """``respawn``: this process ends and the supervisor starts a fresh one."""


class WorkerStop(WorkerInterrupt):
    """``stop``: this process ends and the supervisor stops every worker."""
