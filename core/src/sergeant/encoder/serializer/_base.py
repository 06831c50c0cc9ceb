"""The base class of Sergeant's ``sergeant.encoder.serializer`` classes (see the package)."""

from __future__ import annotations

from typing import Any, ClassVar

from sergeant.encoder import TaskEncoder
from sergeant.encoder._sergeant_wire import TASK_KEY, read_task, revive, task_map
from sergeant.errors import TaskDecodeError
from sergeant.objects import Task

__all__ = ["Serializer"]


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
