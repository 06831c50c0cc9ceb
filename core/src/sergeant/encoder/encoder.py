"""Sergeant's ``sergeant.encoder.encoder.Encoder``: a serializer, then an optional compressor.

``Encoder(compressor_name, serializer_name)`` works as in Sergeant 0.27.0
(``encode(data) -> bytes``, ``decode(data) -> value``, the ``serializer`` and
``compressor`` objects, the ``serializers`` and ``compressors`` tables) and runs
our code (:mod:`sergeant.encoder`). Our :class:`~sergeant.broker.Broker` takes
it as Sergeant's did (``Broker(connector=..., encoder=Encoder(...))``) and uses
its :attr:`Encoder.task_encoder`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sergeant.encoder import TaskEncoder
from sergeant.encoder.compressor import Compressor, bzip2, gzip, lzma, zlib
from sergeant.encoder.serializer import Serializer, json, msgpack, pickle
from sergeant.errors import ConfigError

__all__ = ["Encoder"]


class Encoder:
    """Encode and decode values as Sergeant's ``Encoder`` did.

    :param compressor_name: ``'bzip2'``, ``'gzip'``, ``'lzma'``, ``'zlib'`` or None.
    :param serializer_name: ``'msgpack'`` (default), ``'pickle'`` (only when every
        producer is trusted) or ``'json'``.
    :raises sergeant.errors.ConfigError: for a name not in :attr:`compressors` or
        :attr:`serializers` (Sergeant raised ``KeyError``).
    """

    serializers: ClassVar[dict[str, type[Serializer]]] = {
        cls.name: cls for cls in (msgpack.Serializer, pickle.Serializer, json.Serializer)
    }
    compressors: ClassVar[dict[str, type[Compressor]]] = {
        cls.name: cls
        for cls in (bzip2.Compressor, gzip.Compressor, lzma.Compressor, zlib.Compressor)
    }

    def __init__(
        self, compressor_name: str | None = None, serializer_name: str = "msgpack"
    ) -> None:
        if serializer_name not in self.serializers:
            raise ConfigError(
                "Encoder.serializer_name",
                serializer_name,
                "use 'msgpack', 'json' or (trusted) 'pickle'",
            )
        if compressor_name and compressor_name not in self.compressors:
            raise ConfigError(
                "Encoder.compressor_name",
                compressor_name,
                "use 'bzip2', 'gzip', 'lzma', 'zlib' or None",
            )
        self.serializer: Serializer = self.serializers[serializer_name]()
        self.compressor: Compressor | None = (
            self.compressors[compressor_name]() if compressor_name else None
        )
        #: The same encoding as the worker's encoder, for :class:`sergeant.broker.Broker`.
        self.task_encoder = TaskEncoder(serializer_name, compressor_name or None)

    def encode(self, data: Any) -> bytes:
        """``data`` serialized, then compressed (``EncodeError``, a ``TypeError``, if it
        cannot be serialized)."""
        encoded = self.serializer.serialize(data)
        return self.compressor.compress(encoded) if self.compressor else encoded

    def decode(self, data: bytes) -> Any:
        """The value :meth:`encode` turned into ``data`` (a task written in Sergeant's
        map form comes back as a :class:`~sergeant.objects.Task`)."""
        if self.compressor:
            data = self.compressor.decompress(data)
        return self.serializer.unserialize(data)
