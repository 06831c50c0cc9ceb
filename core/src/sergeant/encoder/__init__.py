"""Turn tasks (and key values) into bytes and back: a serializer, then an optional compressor.

Serializers:

``msgpack`` (default)
    compact and fast; carries ``dict``, ``list``, ``str``, ``bytes``, numbers,
    ``None``, ``bool``, and also ``tuple`` and ``datetime.datetime``.
``json``
    readable by anything; ``bytes``, tuples (they come back as lists) and
    datetimes are not carried.
``pickle``
    any Python object. Only when asked for explicitly: unpickling runs code chosen
    by whoever wrote the payload, so anyone able to push to the queue could run
    code in your workers. Use it only when every producer is trusted.

Compressors: ``zlib``, ``gzip``, ``bzip2``, ``lzma`` or ``None``.

A task is stored as ``[kwargs, trace_id, date, run_count]`` with msgpack (an
array decodes in well under half the time of a mapping, and takes a third of
the bytes) and as the mapping ``{"kwargs", "trace_id", "date", "run_count"}``
with the others, which any language reads and writes. Either form decodes with
any serializer, so producers outside Python may always push the mapping.
"""

from __future__ import annotations

import bz2
import datetime
import functools
import gzip
import json
import lzma
import pickle
import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgpack

from sergeant.encoder._sergeant import sergeant_task
from sergeant.errors import ConfigError, TaskDecodeError
from sergeant.task import Task

__all__ = ["COMPRESSORS", "SERIALIZERS", "TaskEncoder"]

#: A batch bigger than this is decoded payload by payload, not as one stream.
_STREAM_BYTES = 16 * 1024 * 1024
_EXT_TUPLE = 1
_EXT_DATETIME = 2


def _msgpack_default(obj: Any) -> Any:
    if isinstance(obj, tuple):
        return msgpack.ExtType(_EXT_TUPLE, _msgpack_dumps(list(obj)))
    if isinstance(obj, datetime.datetime):
        offset = obj.utcoffset()
        seconds = offset.total_seconds() if offset is not None else float("nan")
        return msgpack.ExtType(_EXT_DATETIME, struct.pack("<dd", obj.timestamp(), seconds))
    raise TypeError(f"msgpack cannot encode a {type(obj).__name__}")


def _msgpack_ext_hook(code: int, data: bytes) -> Any:
    if code == _EXT_TUPLE:
        return tuple(_msgpack_loads(data))
    if code == _EXT_DATETIME:
        stamp, offset = struct.unpack("<dd", data)
        if offset != offset:  # NaN: the datetime was naive
            return datetime.datetime.fromtimestamp(stamp)
        zone = datetime.timezone(datetime.timedelta(seconds=offset))
        return datetime.datetime.fromtimestamp(stamp, zone)
    return msgpack.ExtType(code, data)


def _msgpack_dumps(obj: Any) -> bytes:
    return msgpack.packb(obj, default=_msgpack_default, use_bin_type=True, strict_types=True)  # type: ignore[no-any-return]


_msgpack_loads: Callable[[bytes], Any] = functools.partial(
    msgpack.unpackb, raw=False, strict_map_key=False, ext_hook=_msgpack_ext_hook
)


def _json_dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _json_loads(data: bytes) -> Any:
    return json.loads(data)


def _pickle_dumps(obj: Any) -> bytes:
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def _pickle_loads(data: bytes) -> Any:
    return pickle.loads(data)  # noqa: S301 - only when the user chose pickle explicitly


Codec = tuple[Callable[[Any], bytes], Callable[[bytes], Any]]

SERIALIZERS: dict[str, Codec] = {
    "msgpack": (_msgpack_dumps, _msgpack_loads),
    "json": (_json_dumps, _json_loads),
    "pickle": (_pickle_dumps, _pickle_loads),
}

COMPRESSORS: dict[str, Codec] = {
    "zlib": (zlib.compress, zlib.decompress),
    "gzip": (gzip.compress, gzip.decompress),
    "bzip2": (bz2.compress, bz2.decompress),
    "lzma": (lzma.compress, lzma.decompress),
}


class TaskEncoder:
    """Encode and decode tasks and key values with one serializer and compressor.

    :param serializer: ``'msgpack'``, ``'json'`` or ``'pickle'`` (see the module doc).
    :param compressor: ``'zlib'``, ``'gzip'``, ``'bzip2'``, ``'lzma'`` or None.
    """

    def __init__(self, serializer: str = "msgpack", compressor: str | None = None) -> None:
        if serializer not in SERIALIZERS:
            raise ConfigError(
                "Encoder.serializer", serializer, "use 'msgpack', 'json' or (trusted) 'pickle'"
            )
        if compressor is not None and compressor not in COMPRESSORS:
            raise ConfigError(
                "Encoder.compressor", compressor, "use 'zlib', 'gzip', 'bzip2', 'lzma' or None"
            )
        self.serializer = serializer
        self.compressor = compressor
        self._dumps, self._loads = SERIALIZERS[serializer]
        self._compress: Callable[[Any], bytes] | None = None
        self._decompress: Callable[[bytes], Any] | None = None
        if compressor:
            self._compress, self._decompress = COMPRESSORS[compressor]

    def encode(self, data: Any) -> bytes:
        """Serialize (and compress) any value the serializer carries."""
        try:
            encoded = self._dumps(data)
        except (TypeError, ValueError, OverflowError, pickle.PicklingError) as exc:
            raise ConfigError(
                "value to encode", type(data).__name__, f"{self.serializer} cannot encode it: {exc}"
            ) from exc
        return self._compress(encoded) if self._compress else encoded

    def decode(self, data: bytes) -> Any:
        """The value :meth:`encode` turned into ``data``; TaskDecodeError if it is not one."""
        try:
            if self._decompress is None:
                return self._loads(data)
            return self._loads(self._decompress(data))
        except Exception as exc:
            raise TaskDecodeError(
                f"cannot decode {len(data)} bytes with serializer {self.serializer!r}"
                f" and compressor {self.compressor!r}: {type(exc).__name__}"
                + (f": {exc}" if str(exc) else "")
            ) from exc

    def encode_task(self, task: Task) -> bytes:
        """The bytes stored on the queue for ``task``."""
        if self.serializer == "msgpack":
            return self.encode([task.kwargs, task.trace_id, task.date, task.run_count])
        return self.encode(
            {
                "kwargs": task.kwargs,
                "trace_id": task.trace_id,
                "date": task.date,
                "run_count": task.run_count,
            }
        )

    def decode_tasks(self, payloads: Sequence[bytes]) -> list[Task | None]:
        """The task in each payload, or None where :meth:`decode_task` must decide
        (it says why a payload is not a task, or reads one in a rarer form).

        With msgpack and no compressor a batch is read as one stream, in C, and a
        value counts only where it ends exactly where its payload does: from the
        first payload that is not one whole value (garbage, nothing, or more than
        one) the rest is left to :meth:`decode_task`. Other encodings leave every
        payload to it.
        """
        if self.serializer != "msgpack" or self._decompress is not None or not payloads:
            return [None] * len(payloads)
        source: Iterable[Any]
        tell: Callable[[], int] | None = None
        if len(payloads) == 1:
            try:
                source = (self._loads(payloads[0]),)
            except Exception:
                return [None]
        else:
            if sum(map(len, payloads)) > _STREAM_BYTES:  # no second copy of a big batch
                return [None] * len(payloads)
            blob = b"".join(payloads)
            unpacker = msgpack.Unpacker(
                strict_map_key=False, ext_hook=_msgpack_ext_hook, max_buffer_size=len(blob)
            )
            unpacker.feed(blob)
            source, tell = unpacker, unpacker.tell
        tasks: list[Task | None] = []
        append = tasks.append
        end = 0
        try:
            for payload, value in zip(payloads, source, strict=False):
                if tell is not None:
                    end += len(payload)
                    if tell() != end:
                        break
                # The common cases, kept to a few checks.
                if type(value) is list and len(value) == 4:
                    kwargs, trace_id, date, run_count = value
                elif type(value) is dict:
                    kwargs = value.get("kwargs")
                    trace_id = value.get("trace_id")
                    date = value.get("date")
                    run_count = value.get("run_count")
                else:
                    append(None)
                    continue
                if (
                    type(kwargs) is dict
                    and type(date) is float
                    and type(run_count) is int
                    and (trace_id is None or type(trace_id) is str)
                ):
                    append(Task(kwargs, trace_id, date, run_count))
                else:
                    append(None)
        except Exception:  # noqa: S110 - garbage ends the stream; decode_task says what
            pass
        tasks.extend([None] * (len(payloads) - len(tasks)))
        return tasks

    def decode_task(self, data: bytes) -> Task:
        """The task in ``data``; TaskDecodeError when the bytes are not an encoded task."""
        task = self.decode_tasks((data,))[0]
        if task is not None:
            return task
        value = self.decode(data)  # raises TaskDecodeError with the reason
        if isinstance(value, Task):  # pickled by a Sergeant-style producer
            return value
        legacy = sergeant_task(value)  # msgpack written by Sergeant 0.27.0
        if legacy is not None:
            return legacy
        if isinstance(value, list) and len(value) == 4:
            value = dict(zip(("kwargs", "trace_id", "date", "run_count"), value, strict=True))
        if not isinstance(value, dict) or not isinstance(value.get("kwargs"), dict):
            raise TaskDecodeError(
                f"payload decodes to a {type(value).__name__}, not a task"
                " ([kwargs, trace_id, date, run_count], or a mapping with those keys)"
            )
        try:
            return Task(
                kwargs=value["kwargs"],
                trace_id=value.get("trace_id"),
                date=float(value.get("date", 0.0)),
                run_count=int(value.get("run_count", 0)),
            )
        except (TypeError, ValueError) as exc:
            raise TaskDecodeError(f"payload is not a valid task: {exc}") from exc
