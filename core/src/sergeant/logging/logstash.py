"""Send log records to a Logstash TCP input as JSON, as Sergeant 0.27.0 does.

Each record becomes one JSON object::

    {"@timestamp": "2026-01-01T12:00:00.123456",    # UTC, no zone suffix
     "message": ..., "level": "ERROR", "name": <logger name>,
     "emitter": {"hostname", "ipaddress", "pathname", "function", "line"},
     "extra": {<attributes passed with extra=...>},   # dataclasses as dicts
     "exception": {"type", "message", "stacktrace"}}  # only with an exception

:class:`LogstashHandler` opens a TCP connection per record and sends the object
alone. :class:`BufferedLogstashHandler` keeps records and sends them, each
followed by a newline, over one connection once ``chunk_size`` are waiting or
``max_store_time`` seconds have passed since the last send (checked when a
record arrives), and on :meth:`~BufferedLogstashHandler.flush` and close.

Logging never breaks the program: a Logstash server that is down or slow (past
``timeout``) costs the records of that attempt (the buffered handler keeps them
for the next one, up to ``max_buffered``), and the failure is reported once on
standard error until a send succeeds again.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import enum
import json
import logging
import socket
import sys
import time
import traceback
import uuid
from typing import Any

__all__ = ["BufferedLogstashHandler", "LogstashHandler"]

#: Attributes every LogRecord has; the others were passed with ``extra=``.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, None, None, None).__dict__) | {
    "asctime",
    "message",
}


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return repr(value)


def _dumps(message: dict[str, Any], allow_nan: bool) -> str:
    """Compact UTF-8 JSON, the bytes orjson (Sergeant's encoder) writes for plain values."""
    return json.dumps(
        message,
        default=_json_default,
        ensure_ascii=False,
        allow_nan=allow_nan,
        separators=(",", ":"),
    )


class _JsonCodec:
    """The JSON codec the handlers call (:func:`_dumps`), with orjson's call shape."""

    @staticmethod
    def dumps(message: dict[str, Any]) -> bytes:
        """``message`` as compact UTF-8 JSON; extras JSON cannot hold (non-string
        keys, NaN, cycles) are sent as their repr."""
        try:
            return _dumps(message, allow_nan=False).encode()
        except (TypeError, ValueError, RecursionError):
            extra = {name: repr(value) for name, value in message.get("extra", {}).items()}
            return _dumps({**message, "extra": extra}, allow_nan=True).encode()


#: What the handlers encode with. Named as in Sergeant's module, whose users'
#: tests patch ``sergeant.logging.logstash.orjson`` (and ``.socket``) to see
#: the message object; no orjson is needed.
orjson = _JsonCodec()


def _own_address(hostname: str) -> str:
    try:
        return socket.gethostbyname(hostname)
    except OSError:
        return "127.0.0.1"


class LogstashHandler(logging.Handler):
    """Send each record to ``host:port`` over its own TCP connection.

    :param host: the Logstash server.
    :param port: its ``tcp`` input's port (``codec => json``).
    :param timeout: seconds to connect and send before giving up on a record;
        None waits as long as the system does.
    """

    def __init__(self, host: str, port: int, timeout: float | None = 2.0) -> None:
        super().__init__()
        self.host = host
        self.port = port
        self.timeout = timeout
        self.address = (host, port)
        self.hostname = socket.gethostname()
        self.ipaddress = _own_address(self.hostname)
        self._failing = False

    def encode_message(self, record: logging.LogRecord) -> bytes:
        """``record`` as the JSON object Logstash receives (see the module doc)."""
        message: dict[str, Any] = {
            "@timestamp": datetime.datetime.fromtimestamp(record.created, datetime.UTC)
            .replace(tzinfo=None)
            .isoformat(),
            "message": record.getMessage(),
            "level": record.levelname,
            "name": record.name,
            "emitter": {
                "hostname": self.hostname,
                "ipaddress": self.ipaddress,
                "pathname": record.pathname,
                "function": record.funcName,
                "line": record.lineno,
            },
            "extra": {
                name: value
                for name, value in record.__dict__.items()
                if name not in _RECORD_ATTRIBUTES
            },
        }
        exc_info = record.exc_info if record.exc_info else sys.exc_info()
        if exc_info[1] is not None:
            error = exc_info[1]
            message["exception"] = {
                "type": type(error).__name__,
                "message": str(error),
                "stacktrace": "".join(traceback.format_exception(error)),
            }
        return orjson.dumps(message)

    def emit(self, record: logging.LogRecord) -> None:
        """Send ``record`` now; a failure is reported, never raised."""
        try:
            message = self.encode_message(record)
            with socket.create_connection(self.address, timeout=self.timeout) as connection:
                connection.sendall(message)
        except Exception as exc:
            self._report(exc)
            return
        self._failing = False

    def _report(self, exc: BaseException) -> None:
        if not self._failing:
            self._failing = True
            sys.stderr.write(
                f"sending log entries to the logstash server {self.host}:{self.port} has"
                f" failed: {exc} (reported again once a send has succeeded)\n"
            )


class BufferedLogstashHandler(LogstashHandler):
    """Keep records and send them in batches over one TCP connection.

    :param chunk_size: send once this many records are waiting.
    :param max_store_time: send when a record arrives this many seconds or more
        after the last send.
    :param max_buffered: while Logstash is unreachable, keep at most this many
        records (the oldest are dropped first).
    """

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float | None = 2.0,
        chunk_size: int = 100,
        max_store_time: float = 60.0,
        max_buffered: int = 10_000,
    ) -> None:
        super().__init__(host, port, timeout)
        self.chunk_size = chunk_size
        self.max_store_time = max_store_time
        self.log_queue: collections.deque[bytes] = collections.deque(
            maxlen=max(max_buffered, chunk_size)
        )
        self.last_log_transmision_time = time.time()

    def emit(self, record: logging.LogRecord) -> None:
        """Buffer ``record``; send the buffer when it is full or old enough."""
        try:
            self.log_queue.append(self.encode_message(record))
        except Exception as exc:
            self._report(exc)
            return
        waited = record.created - self.last_log_transmision_time
        if len(self.log_queue) >= self.chunk_size or waited >= self.max_store_time:
            self.flush()
            self.last_log_transmision_time = record.created

    def flush(self) -> None:
        """Send every buffered record now (kept for the next try if that fails)."""
        with self.lock or _NO_LOCK:
            if not self.log_queue:
                return
            try:
                with socket.create_connection(self.address, timeout=self.timeout) as connection:
                    while self.log_queue:
                        connection.sendall(self.log_queue[0] + b"\n")
                        self.log_queue.popleft()
            except Exception as exc:
                self._report(exc)
                return
            self._failing = False

    def close(self) -> None:
        """Send what is buffered, then close."""
        self.flush()
        super().close()


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc: object) -> None:
        return None


_NO_LOCK = _NoLock()
