"""Sergeant's ``sergeant.encoder.compressor`` classes, backed by our compressors.

``bzip2.Compressor``, ``gzip.Compressor``, ``lzma.Compressor`` and
``zlib.Compressor`` use the standard library codecs the worker's
:class:`~sergeant.encoder.TaskEncoder` uses, so their bytes are interchangeable
with Sergeant 0.27.0's.
"""

from __future__ import annotations

from sergeant.encoder.compressor import bzip2, gzip, lzma, zlib
from sergeant.encoder.compressor._base import Compressor

__all__ = ["Compressor", "bzip2", "gzip", "lzma", "zlib"]
