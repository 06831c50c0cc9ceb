"""Sergeant's ``sergeant.encoder.compressor.bzip2``."""

from __future__ import annotations

from typing import ClassVar

from sergeant.encoder import compressor

__all__ = ["Compressor"]


class Compressor(compressor.Compressor):
    """The ``bzip2`` compressor (see :class:`sergeant.encoder.compressor.Compressor`)."""

    name: ClassVar[str] = "bzip2"
