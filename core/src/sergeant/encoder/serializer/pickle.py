"""Sergeant's ``sergeant.encoder.serializer.pickle``: any Python object.

Unpickling runs code chosen by whoever wrote the bytes: use it only when every
producer is trusted. It is never a default.
"""

from __future__ import annotations

from typing import ClassVar

from sergeant.encoder.serializer import _base

__all__ = ["Serializer"]


class Serializer(_base.Serializer):
    """The ``pickle`` serializer (see :class:`sergeant.encoder.serializer.Serializer`)."""

    name: ClassVar[str] = "pickle"
