"""Sergeant's ``sergeant.encoder.serializer`` classes, backed by our serializers.

``msgpack.Serializer``, ``pickle.Serializer`` (and ``json.Serializer``, which
Sergeant 0.27.0 lacks) turn a value into bytes with :meth:`Serializer.serialize`
and back with :meth:`Serializer.unserialize`, using the same code as the
worker's :class:`~sergeant.encoder.TaskEncoder`. A :class:`~sergeant.objects.Task`
given to msgpack or json is written in Sergeant's ``{"__task__": {...}}`` map
form and read back as a task; pickle pickles it as Sergeant does. The msgpack
serializer also reads Sergeant's ``{"__tuple__": [...]}`` and
``{"__datetime__": seconds}`` maps anywhere in a value, as Sergeant did (it writes
tuples and datetimes as our extension types, which Sergeant cannot read).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sergeant.encoder import TaskEncoder
from sergeant.encoder._sergeant_wire import TASK_KEY, read_task, revive, task_map
from sergeant.errors import TaskDecodeError
from sergeant.objects import Task

__all__ = ["Serializer", "json", "msgpack", "pickle"]


class Serializer:
    """A named serializer of :mod:`sergeant.encoder` behind Sergeant's class API.

    :raises sergeant.errors.EncodeError: (a ``TypeError``) from :meth:`serialize`
        for a value the serializer cannot carry.
    :raises sergeant.errors.TaskDecodeError: from :meth:`unserialize` for bytes
        that are not a serialized value.
    """

    name: ClassVar[str]

    def __init__(self) -> None:
        self._codec = TaskEncoder(self.name)

    def serialize(self, data: Any) -> bytes:
        """``data`` as bytes."""
        if type(data) is Task and self.name != "pickle":
            data = task_map(data)
        return self._codec.encode(data)

    def unserialize(self, data: bytes) -> Any:
        """The value :meth:`serialize` turned into ``data``."""
        value = self._codec.decode(data)
        if self.name == "msgpack":
            try:
                return revive(value)
            except (TypeError, ValueError, OverflowError, OSError, RecursionError) as exc:
                raise TaskDecodeError(f"not a value Sergeant's msgpack wrote: {exc}") from exc
        if type(value) is dict and TASK_KEY in value:
            return read_task(value)
        return value


from sergeant.encoder.serializer import json, msgpack, pickle  # noqa: E402
