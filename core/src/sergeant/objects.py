"""``sergeant.objects``: the task, under the module name Sergeant gives it.

The class lives here (``sergeant.task`` re-exports it) so that type hints such as
``task: sergeant.objects.Task`` keep working and a pickled task names
``sergeant.objects.Task``, which Sergeant 0.27.0 has too: a task pickled by
either reads in the other.
"""

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
