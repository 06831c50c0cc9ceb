"""Tasks in Sergeant 0.27.0's msgpack form, so payloads it queued still decode.

Sergeant wrote a task as the map ``{'__task__': {kwargs, trace_id, date,
run_count}}``, a tuple as ``{'__tuple__': [...]}`` and a datetime as
``{'__datetime__': epoch seconds}`` (naive, local time). Those markers are read
only inside a ``__task__`` map, so values of ours that merely use such keys
are left alone.
"""

from __future__ import annotations

import datetime
from typing import Any

from sergeant.task import Task

__all__ = ["sergeant_task"]


def _restore(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            if "__datetime__" in value and isinstance(value["__datetime__"], int | float):
                return datetime.datetime.fromtimestamp(value["__datetime__"])
            if "__tuple__" in value and isinstance(value["__tuple__"], list):
                return tuple(_restore(item) for item in value["__tuple__"])
        return {key: _restore(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_restore(item) for item in value]
    return value


def sergeant_task(value: Any) -> Task | None:
    """The task in a decoded Sergeant 0.27.0 msgpack payload, or None if ``value`` is not one."""
    if not (isinstance(value, dict) and len(value) == 1 and "__task__" in value):
        return None
    fields = value["__task__"]
    if not isinstance(fields, dict) or not isinstance(fields.get("kwargs"), dict):
        return None
    trace_id = fields.get("trace_id")
    return Task(
        kwargs=_restore(fields["kwargs"]),
        trace_id=trace_id if isinstance(trace_id, str) else None,
        date=float(fields.get("date") or 0.0),
        run_count=int(fields.get("run_count") or 0),
    )
