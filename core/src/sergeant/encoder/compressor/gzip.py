"""Sergeant's ``sergeant.encoder.compressor.gzip``."""

from __future__ import annotations

from typing import ClassVar

from sergeant.encoder.compressor import _base

__all__ = ["Compressor"]


class Compressor(_base.Compressor):
    """The ``gzip`` compressor (see :class:`sergeant.encoder.compressor.Compressor`)."""

    name: ClassVar[str] = "gzip"
