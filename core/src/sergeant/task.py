"""The task: what a producer pushes and a worker's ``work`` receives."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

__all__ = ["Task"]


@dataclasses.dataclass
class Task:
    """One unit of work.

    :ivar kwargs: the arguments the producer gave; any value the encoder can carry.
    :ivar trace_id: an optional id that follows a chain of tasks (a worker pushing
        from inside ``work`` passes its current task's id on).
    :ivar date: epoch seconds when the task was created.
    :ivar run_count: how many times the task was retried (0 on the first run).
    """

    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    trace_id: str | None = None
    date: float = dataclasses.field(default_factory=time.time)
    run_count: int = 0
