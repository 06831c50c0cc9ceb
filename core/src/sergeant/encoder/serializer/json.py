"""Sergeant's ``sergeant.encoder.serializer.json``.

Not in Sergeant 0.27.0: readable by anything; no ``bytes``; tuples come back as lists.
"""

from __future__ import annotations

from typing import ClassVar

from sergeant.encoder.serializer import _base

__all__ = ["Serializer"]


class Serializer(_base.Serializer):
    """The ``json`` serializer (see :class:`sergeant.encoder.serializer.Serializer`)."""

    name: ClassVar[str] = "json"
