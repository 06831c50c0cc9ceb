"""Sergeant's ``sergeant.encoder.serializer.msgpack``.

The default: compact and fast; it also carries ``tuple``, ``bytes`` and ``datetime``.
"""

from __future__ import annotations

from typing import ClassVar

from sergeant.encoder.serializer import _base

__all__ = ["Serializer"]


class Serializer(_base.Serializer):
    """The ``msgpack`` serializer (see :class:`sergeant.encoder.serializer.Serializer`)."""

    name: ClassVar[str] = "msgpack"
