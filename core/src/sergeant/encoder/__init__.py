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

Decoding takes bytes from anyone able to push, so it is bounded: a payload
longer than ``max_payload_bytes`` (64 MiB by default), or decompressing to
more, is refused without being expanded first, and tuples may nest at most
:data:`MAX_TUPLE_DEPTH` deep (each level is a nested msgpack decode on the C
stack). Such payloads raise :class:`~sergeant.errors.TaskDecodeError`, which
sends them to the dead-letter queue with the reason.

A task is stored as ``[kwargs, trace_id, date, run_count]`` with msgpack (an
array decodes in well under half the time of a mapping, and takes a third of
the bytes), as the mapping ``{"kwargs", "trace_id", "date", "run_count"}`` with
json, which any language reads and writes, and with pickle as the
:class:`~sergeant.objects.Task` object itself, as Sergeant 0.27.0 pickles it.
The array and the mapping decode with any serializer, so producers outside
Python may always push the mapping; so does Sergeant 0.27.0's msgpack form
``{"__task__": {...}}`` (see :mod:`sergeant.encoder._sergeant_wire`).
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

from sergeant.encoder._bounded import DECOMPRESSORS, OverLimitError
from sergeant.encoder._sergeant_wire import TASK_KEY, read_task
from sergeant.errors import ConfigError, EncodeError, TaskDecodeError
from sergeant.task import Task

__all__ = [
    "COMPRESSORS",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "MAX_TUPLE_DEPTH",
    "SERIALIZERS",
    "TaskEncoder",
]

#: A batch bigger than this is decoded payload by payload, not as one stream.
_STREAM_BYTES = 16 * 1024 * 1024
#: The largest payload decoded, before and after decompression, unless told otherwise.
DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024 * 1024
#: How deep msgpack tuples may nest. Each level is one more msgpack decode (or
#: encode) on the C stack, about 50 KB of it: 200 levels overflow an 8 MiB stack.
MAX_TUPLE_DEPTH = 32
_EXT_TUPLE = 1
_EXT_DATETIME = 2


def _too_deep() -> ValueError:
    return ValueError(f"tuples nested more than {MAX_TUPLE_DEPTH} deep")


def _datetime_ext(obj: datetime.datetime) -> msgpack.ExtType:
    offset = obj.utcoffset()
    seconds = offset.total_seconds() if offset is not None else float("nan")
    return msgpack.ExtType(_EXT_DATETIME, struct.pack("<dd", obj.timestamp(), seconds))


def _datetime_of(data: bytes) -> datetime.datetime:
    stamp, offset = struct.unpack("<dd", data)
    if offset != offset:  # NaN: the datetime was naive
        return datetime.datetime.fromtimestamp(stamp)
    zone = datetime.timezone(datetime.timedelta(seconds=offset))
    return datetime.datetime.fromtimestamp(stamp, zone)


def _default_at(level: int) -> Callable[[Any], Any]:
    """msgpack's ``default`` for values inside ``level`` enclosing tuples."""

    def default(obj: Any) -> Any:
        if isinstance(obj, tuple):
            if level >= MAX_TUPLE_DEPTH:
                raise _too_deep()
            return msgpack.ExtType(_EXT_TUPLE, _DUMPS[level + 1](list(obj)))
        if isinstance(obj, datetime.datetime):
            return _datetime_ext(obj)
        if isinstance(obj, int):
            raise OverflowError("msgpack carries whole numbers of at most 64 bits")
        raise TypeError(f"msgpack cannot encode a {type(obj).__name__}")

    return default


def _ext_hook_at(level: int) -> Callable[[int, bytes], Any]:
    """msgpack's ``ext_hook`` for values inside ``level`` enclosing tuples: a
    table of hooks, one per level, so the bound costs the usual decode nothing."""

    def ext_hook(code: int, data: bytes) -> Any:
        if code == _EXT_TUPLE:
            if level >= MAX_TUPLE_DEPTH:
                raise _too_deep()
            return tuple(_LOADS[level + 1](data))
        if code == _EXT_DATETIME:
            return _datetime_of(data)
        return msgpack.ExtType(code, data)

    return ext_hook


_DUMPS: list[Callable[[Any], bytes]] = [
    functools.partial(
        msgpack.packb, default=_default_at(level), use_bin_type=True, strict_types=True
    )
    for level in range(MAX_TUPLE_DEPTH + 1)
]
_LOADS: list[Callable[[bytes], Any]] = [
    functools.partial(
        msgpack.unpackb, raw=False, strict_map_key=False, ext_hook=_ext_hook_at(level)
    )
    for level in range(MAX_TUPLE_DEPTH + 1)
]
_msgpack_ext_hook = _ext_hook_at(0)
_msgpack_dumps = _DUMPS[0]
_msgpack_loads = _LOADS[0]


def _json_dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _json_loads(data: bytes) -> Any:
    return json.loads(data)


def _pickle_dumps(obj: Any) -> bytes:
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def _pickle_loads(data: bytes) -> Any:
    return pickle.loads(data)  # noqa: S301 - only when the user chose pickle explicitly


Codec = tuple[Callable[[Any], bytes], Callable[[bytes], Any]]
#: A compressor: ``compress(data)`` and ``decompress(data, limit)``, which raises
#: past ``limit`` bytes of output.
Compressor = tuple[Callable[[bytes], bytes], Callable[[bytes, int], bytes]]

SERIALIZERS: dict[str, Codec] = {
    "msgpack": (_msgpack_dumps, _msgpack_loads),
    "json": (_json_dumps, _json_loads),
    "pickle": (_pickle_dumps, _pickle_loads),
}

COMPRESSORS: dict[str, Compressor] = {
    "zlib": (zlib.compress, DECOMPRESSORS["zlib"]),
    "gzip": (gzip.compress, DECOMPRESSORS["gzip"]),
    "bzip2": (bz2.compress, DECOMPRESSORS["bzip2"]),
    "lzma": (lzma.compress, DECOMPRESSORS["lzma"]),
}


class TaskEncoder:
    """Encode and decode tasks and key values with one serializer and compressor.

    :param serializer: ``'msgpack'``, ``'json'`` or ``'pickle'`` (see the module doc).
    :param compressor: ``'zlib'``, ``'gzip'``, ``'bzip2'``, ``'lzma'`` or None.
    :param max_payload_bytes: payloads longer than this, or decompressing to more,
        are not decoded (:class:`~sergeant.errors.TaskDecodeError`).
    """

    def __init__(
        self,
        serializer: str = "msgpack",
        compressor: str | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        if serializer not in SERIALIZERS:
            raise ConfigError(
                "Encoder.serializer", serializer, "use 'msgpack', 'json' or (trusted) 'pickle'"
            )
        if compressor is not None and compressor not in COMPRESSORS:
            raise ConfigError(
                "Encoder.compressor", compressor, "use 'zlib', 'gzip', 'bzip2', 'lzma' or None"
            )
        if (
            isinstance(max_payload_bytes, bool)
            or not isinstance(max_payload_bytes, int)
            or max_payload_bytes < 1
        ):
            raise ConfigError(
                "max_payload_bytes",
                max_payload_bytes,
                "expected a whole number of bytes, at least 1",
            )
        self.serializer = serializer
        self.compressor = compressor
        self.max_payload_bytes = max_payload_bytes
        self._dumps, self._loads = SERIALIZERS[serializer]
        self._compress: Callable[[bytes], bytes] | None = None
        self._decompress: Callable[[bytes, int], bytes] | None = None
        if compressor:
            self._compress, self._decompress = COMPRESSORS[compressor]

    def encode(self, data: Any) -> bytes:
        """Serialize (and compress) any value the serializer carries."""
        try:
            encoded = self._dumps(data)
        except (TypeError, ValueError, OverflowError, RecursionError, pickle.PicklingError) as exc:
            raise EncodeError(
                "value to encode", type(data).__name__, f"{self.serializer} cannot encode it: {exc}"
            ) from exc
        return self._compress(encoded) if self._compress else encoded

    def decode(self, data: bytes) -> Any:
        """The value :meth:`encode` turned into ``data``; TaskDecodeError if it is not one."""
        limit = self.max_payload_bytes
        if len(data) > limit:
            raise TaskDecodeError(
                f"payload of {len(data)} bytes is over max_payload_bytes={limit}"
                " (raise WorkerConfig.max_payload_bytes if such tasks are expected)"
            )
        try:
            if self._decompress is None:
                return self._loads(data)
            return self._loads(self._decompress(data, limit))
        except OverLimitError as exc:
            raise TaskDecodeError(
                f"payload of {len(data)} bytes with compressor {self.compressor!r} decompresses"
                f" to more than max_payload_bytes={limit} (a decompression bomb?"
                " raise WorkerConfig.max_payload_bytes if such tasks are expected)"
            ) from exc
        except Exception as exc:
            raise TaskDecodeError(
                f"cannot decode {len(data)} bytes with serializer {self.serializer!r}"
                f" and compressor {self.compressor!r}: {type(exc).__name__}"
                + (f": {exc}" if str(exc) else "")
            ) from exc

    def encode_task(self, task: Task) -> bytes:
        """The bytes stored on the queue for ``task``; an EncodeError names the
        first of its kwargs the serializer cannot carry."""
        try:
            return self._encode_task(task)
        except EncodeError as exc:
            kwargs = task.kwargs if isinstance(task.kwargs, dict) else {}
            for key, value in kwargs.items():
                try:
                    self.encode(value)
                except EncodeError as inner:
                    raise EncodeError(
                        f"task kwargs[{key!r}]",
                        type(value).__name__,
                        f"{self.serializer} cannot encode it ({inner.__cause__}); pass plain"
                        " data (str, numbers, lists, dicts)",
                    ) from inner.__cause__
            raise exc from exc.__cause__

    def _encode_task(self, task: Task) -> bytes:
        if self.serializer == "msgpack":
            return self.encode([task.kwargs, task.trace_id, task.date, task.run_count])
        if self.serializer == "pickle":  # the object, as Sergeant 0.27.0 pickles it
            return self.encode(task)
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
            if len(payloads[0]) > self.max_payload_bytes:
                return [None]
            try:
                source = (self._loads(payloads[0]),)
            except Exception:
                return [None]
        else:
            total = sum(map(len, payloads))
            # No second copy of a big batch; within the bound, every payload is.
            if total > _STREAM_BYTES or total > self.max_payload_bytes:
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
        if isinstance(value, dict) and TASK_KEY in value:  # Sergeant 0.27.0's msgpack
            return read_task(value)
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
        except (TypeError, ValueError, OverflowError) as exc:  # e.g. run_count inf, date 1e400
            raise TaskDecodeError(f"payload is not a valid task: {exc}") from exc
