"""Sergeant's ``sergeant.encoder.compressor.lzma``."""

from __future__ import annotations

from typing import ClassVar

from sergeant.encoder.compressor import _base

__all__ = ["Compressor"]


class Compressor(_base.Compressor):
    """The ``lzma`` compressor (see :class:`sergeant.encoder.compressor.Compressor`)."""

    name: ClassVar[str] = "lzma"
