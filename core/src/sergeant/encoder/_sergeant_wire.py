"""Sergeant 0.27.0's msgpack task form, read (and written on request) by ours.

Sergeant's msgpack serializer stores a task as the map
``{"__task__": {"kwargs": ..., "trace_id": ..., "date": ..., "run_count": ...}}``
and, anywhere inside a value, a tuple as ``{"__tuple__": [...]}`` and a
datetime as ``{"__datetime__": <epoch seconds>}`` (read back as a naive local
datetime). Ours writes tasks as an array and tuples and datetimes as msgpack
extension types, so a task pushed by a Sergeant producer is recognised here,
only after the fast path has said it is not one of ours.
"""

from __future__ import annotations

import datetime
from typing import Any

from sergeant.errors import TaskDecodeError
from sergeant.task import Task

__all__ = ["TASK_KEY", "read_task", "revive", "task_map"]

TASK_KEY = "__task__"
_TUPLE_KEY = "__tuple__"
_DATETIME_KEY = "__datetime__"
_TASK_FIELDS = ("kwargs", "trace_id", "date", "run_count")


def task_map(task: Task) -> dict[str, Any]:
    """``task`` in Sergeant's map form, for a serializer to write."""
    return {
        TASK_KEY: {
            "kwargs": task.kwargs,
            "trace_id": task.trace_id,
            "date": task.date,
            "run_count": task.run_count,
        }
    }


def revive(value: Any) -> Any:
    """What Sergeant's ``object_hook`` makes of a decoded msgpack value, innermost
    maps first: any map holding ``__datetime__``, ``__tuple__`` or ``__task__``
    becomes a datetime, a tuple or a task."""
    if type(value) is list:
        return [revive(item) for item in value]
    if type(value) is not dict:
        return value
    revived = {key: revive(item) for key, item in value.items()}
    if _DATETIME_KEY in revived:
        return datetime.datetime.fromtimestamp(revived[_DATETIME_KEY])
    if _TUPLE_KEY in revived:
        return tuple(revived[_TUPLE_KEY])
    if TASK_KEY in revived:
        return _task(revived[TASK_KEY])
    return revived


def _task(fields: Any) -> Task:
    if not isinstance(fields, dict) or not isinstance(fields.get("kwargs"), dict):
        raise TaskDecodeError(
            "payload is Sergeant's task map but its '__task__' holds no kwargs mapping"
        )
    unknown = sorted(str(key) for key in fields if key not in _TASK_FIELDS)
    if unknown:
        raise TaskDecodeError(f"payload is Sergeant's task map with unknown fields {unknown}")
    try:
        return Task(
            kwargs=fields["kwargs"],
            trace_id=None if fields.get("trace_id") is None else str(fields["trace_id"]),
            date=float(fields.get("date", 0.0)),
            run_count=int(fields.get("run_count", 0)),
        )
    except (TypeError, ValueError) as exc:
        raise TaskDecodeError(f"payload is not a valid Sergeant task: {exc}") from exc


def read_task(value: dict[Any, Any]) -> Task:
    """The task in ``value``, a decoded ``{"__task__": {...}}`` map written by Sergeant.

    Raises :class:`~sergeant.errors.TaskDecodeError` when it does not hold a valid task.
    """
    try:
        task = revive(value)
    except (TypeError, ValueError, OverflowError, OSError, RecursionError) as exc:
        raise TaskDecodeError(f"payload is not a valid Sergeant task: {exc}") from exc
    if not isinstance(task, Task):
        raise TaskDecodeError("payload is Sergeant's task map inside another value, not a task")
    return task
