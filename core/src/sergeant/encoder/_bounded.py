"""Decompression with a bound on the output: never a full expansion first.

Each function takes the compressed bytes and ``limit``, streams them through the
codec's incremental decompressor asking for at most ``limit + 1`` bytes, and
raises :class:`OverLimitError` as soon as the output passes ``limit``. Results
and errors otherwise match the standard library's one-shot functions
(concatenated gzip, bzip2 and xz streams included).
"""

from __future__ import annotations

import bz2
import lzma
import sys
import zlib
from collections.abc import Callable
from typing import Any

__all__ = ["DECOMPRESSORS", "OverLimitError"]

#: Deflate (zlib) expands at most 1032:1, so data this many times smaller than the
#: limit is decompressed in one call: the usual small task, at the usual speed.
_DEFLATE_RATIO = 1040
#: liblzma may allocate what a stream's header asks for (its dictionary): cap it.
#: Decoding the heaviest preset (9, extreme) needs 65 MiB.
_LZMA_MEMLIMIT = 128 * 1024 * 1024


class OverLimitError(ValueError):
    """The data decompresses to more than the limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"decompresses to more than {limit} bytes")
        self.limit = limit


def _streams(
    make: Callable[[], Any], data: bytes, limit: int, *, many: bool, lenient_tail: bool
) -> bytes:
    """Decompress ``data`` (one stream, or with ``many`` several in a row).

    ``lenient_tail``: bytes after a complete stream that are not a stream are
    ignored (as :func:`bz2.decompress` and :func:`lzma.decompress` do).
    """
    parts: list[bytes] = []
    size = 0
    rest = data
    while True:
        engine = make()
        try:
            # at most sys.maxsize: a limit meaning "none" must not overflow the C size
            part = engine.decompress(rest, min(limit - size, sys.maxsize - 1) + 1)
        except (OSError, lzma.LZMAError, zlib.error):
            if parts and lenient_tail:
                break
            raise
        size += len(part)
        if size > limit:
            raise OverLimitError(limit)
        if not engine.eof:
            raise ValueError("compressed data ended before the end of its stream")
        parts.append(part)
        rest = engine.unused_data
        if not (many and rest):
            break
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _zlib(data: bytes, limit: int) -> bytes:
    if len(data) * _DEFLATE_RATIO <= limit:
        return zlib.decompress(data)
    return _streams(zlib.decompressobj, data, limit, many=False, lenient_tail=False)


def _gzip(data: bytes, limit: int) -> bytes:
    return _streams(
        lambda: zlib.decompressobj(16 + zlib.MAX_WBITS), data, limit, many=True, lenient_tail=False
    )


def _bzip2(data: bytes, limit: int) -> bytes:
    return _streams(bz2.BZ2Decompressor, data, limit, many=True, lenient_tail=True)


def _lzma(data: bytes, limit: int) -> bytes:
    return _streams(
        lambda: lzma.LZMADecompressor(memlimit=_LZMA_MEMLIMIT),
        data,
        limit,
        many=True,
        lenient_tail=True,
    )


#: Name -> ``decompress(data, limit)``.
DECOMPRESSORS: dict[str, Callable[[bytes, int], bytes]] = {
    "zlib": _zlib,
    "gzip": _gzip,
    "bzip2": _bzip2,
    "lzma": _lzma,
}
