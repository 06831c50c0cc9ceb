"""The base class of Sergeant's ``sergeant.encoder.compressor`` classes (see the package)."""

from __future__ import annotations

from typing import ClassVar

from sergeant.encoder import COMPRESSORS, DEFAULT_MAX_PAYLOAD_BYTES
from sergeant.errors import TaskDecodeError

__all__ = ["Compressor"]


class Compressor:
    """A named compressor of :mod:`sergeant.encoder` behind Sergeant's class API.

    :raises sergeant.errors.TaskDecodeError: from :meth:`decompress` for bytes this
        compressor did not write.
    """

    name: ClassVar[str]

    def __init__(self) -> None:
        self._compress, self._decompress = COMPRESSORS[self.name]

    def compress(self, data: bytes) -> bytes:
        """``data`` compressed."""
        return self._compress(data)

    def decompress(self, data: bytes) -> bytes:
        """The bytes :meth:`compress` turned into ``data``, refused past
        :data:`~sergeant.encoder.DEFAULT_MAX_PAYLOAD_BYTES` (a decompression bomb)."""
        try:
            return bytes(self._decompress(data, DEFAULT_MAX_PAYLOAD_BYTES))
        except Exception as exc:
            raise TaskDecodeError(
                f"cannot decompress {len(data)} bytes with {self.name!r}: {type(exc).__name__}"
                + (f": {exc}" if str(exc) else "")
            ) from exc
