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

from sergeant.encoder.serializer import json, msgpack, pickle
from sergeant.encoder.serializer._base import Serializer

__all__ = ["Serializer", "json", "msgpack", "pickle"]
