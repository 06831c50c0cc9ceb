"""``sergeant.logging.logstash`` delivers records to a real listener on loopback.

Logstash's ``tcp`` input is what both handlers speak (Sergeant 0.27.0's handlers
have no UDP mode either), so a TCP server here stands in for it and records each
connection's bytes. Proves: ``LogstashHandler`` sends each record as one JSON
object over its own connection, with the message, level, emitter, extras
(dataclasses as mappings) and the exception; ``BufferedLogstashHandler`` sends
nothing until ``chunk_size`` records wait, ``max_store_time`` has passed,
``flush()`` or ``close()``, then sends them all, newline-separated, over one
connection; a server that is down costs nothing but one line on stderr, and the
buffered records reach it once it is up.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import queue
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sergeant.config import Logging
from sergeant.logging.logstash import BufferedLogstashHandler, LogstashHandler

WAIT = 30.0  # seconds: generous, for a busy machine


class Listener:
    """A TCP server on 127.0.0.1 that keeps what each connection sent until it closed.

    Built on a socket bound before it listens, so a test can point a handler at
    a port that refuses connections and later start serving on that same port.
    """

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.port: int = self.socket.getsockname()[1]
        self.connections: queue.Queue[bytes] = queue.Queue()
        self._thread: threading.Thread | None = None

    def serve(self) -> None:
        self.socket.listen(16)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:  # closed: the test is over
                return
            threading.Thread(target=self._read, args=(connection,), daemon=True).start()

    def _read(self, connection: socket.socket) -> None:
        chunks = []
        with connection:
            connection.settimeout(WAIT)
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        self.connections.put(b"".join(chunks))

    def next_connection(self) -> bytes:
        """What the next closed connection sent (waits up to :data:`WAIT` seconds)."""
        return self.connections.get(timeout=WAIT)

    def records(self) -> list[dict[str, Any]]:
        """The JSON records of the next connection (one per line)."""
        return [json.loads(line) for line in self.next_connection().splitlines()]

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    server.serve()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def logger() -> logging.Logger:
    named = logging.getLogger(f"test-logstash-{uuid.uuid4().hex[:8]}")
    named.setLevel(logging.DEBUG)
    named.propagate = False
    return named


@dataclasses.dataclass
class Order:
    number: int
    items: list[str]


def test_each_record_is_one_json_object_on_its_own_connection(
    listener: Listener, logger: logging.Logger
) -> None:
    handler = LogstashHandler("127.0.0.1", listener.port)
    logger.addHandler(handler)
    before = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    logger.warning("order %d shipped", 7, extra={"order": Order(7, ["tea"]), "attempt": 2})
    logger.info("second")
    # One connection each; the listener may read the second before the first.
    received = [json.loads(listener.next_connection()) for _ in range(2)]
    first, second = sorted(received, key=lambda message: message["message"] == "second")
    assert first["message"] == "order 7 shipped"
    assert first["level"] == "WARNING"
    assert first["name"] == logger.name
    assert first["extra"] == {"order": {"number": 7, "items": ["tea"]}, "attempt": 2}
    assert first["emitter"]["pathname"] == __file__
    assert first["emitter"]["function"] == (
        "test_each_record_is_one_json_object_on_its_own_connection"
    )
    assert first["emitter"]["hostname"] == socket.gethostname()
    assert "exception" not in first
    stamp = datetime.datetime.fromisoformat(first["@timestamp"])
    assert stamp.tzinfo is None  # UTC, written without a zone as Sergeant does
    assert before - datetime.timedelta(seconds=1) <= stamp <= before + datetime.timedelta(hours=1)
    assert (second["message"], second["level"]) == ("second", "INFO")


def test_an_exception_is_sent_with_its_type_message_and_stacktrace(
    listener: Listener, logger: logging.Logger
) -> None:
    logger.addHandler(LogstashHandler("127.0.0.1", listener.port))
    try:
        raise KeyError("missing-url")
    except KeyError:
        logger.exception("task failed")
    record = json.loads(listener.next_connection())
    assert record["level"] == "ERROR"
    assert record["exception"]["type"] == "KeyError"
    assert record["exception"]["message"] == "'missing-url'"
    assert 'raise KeyError("missing-url")' in record["exception"]["stacktrace"]


def test_buffered_records_wait_for_chunk_size_then_share_one_connection(
    listener: Listener, logger: logging.Logger
) -> None:
    handler = BufferedLogstashHandler("127.0.0.1", listener.port, chunk_size=3)
    logger.addHandler(handler)
    logger.info("one")
    logger.info("two")
    assert len(handler.log_queue) == 2  # kept, not sent
    logger.info("three")
    assert [r["message"] for r in listener.records()] == ["one", "two", "three"]
    assert len(handler.log_queue) == 0
    logger.info("four")
    handler.close()
    assert [r["message"] for r in listener.records()] == ["four"]
    assert listener.connections.empty()  # one connection per batch, not per record


def test_buffered_flush_sends_whatever_is_waiting(
    listener: Listener, logger: logging.Logger
) -> None:
    handler = BufferedLogstashHandler("127.0.0.1", listener.port, chunk_size=100)
    logger.addHandler(handler)
    for number in range(5):
        logger.info("record %d", number)
    handler.flush()
    assert [r["message"] for r in listener.records()] == [f"record {n}" for n in range(5)]
    handler.flush()  # nothing waiting: no connection
    logger.info("after")
    handler.flush()
    assert [r["message"] for r in listener.records()] == ["after"]


def test_buffered_records_are_sent_once_max_store_time_has_passed(
    listener: Listener, logger: logging.Logger
) -> None:
    handler = BufferedLogstashHandler(
        "127.0.0.1", listener.port, chunk_size=100, max_store_time=60.0
    )
    logger.addHandler(handler)
    logger.info("early")
    assert len(handler.log_queue) == 1
    # a record made 60 s after the last send (its creation time is what counts)
    late = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "late", (), None)
    late.created = handler.last_log_transmision_time + 60.0
    logger.handle(late)
    assert [r["message"] for r in listener.records()] == ["early", "late"]
    assert handler.last_log_transmision_time == late.created


def test_a_server_that_is_down_costs_one_stderr_line_and_the_buffer_waits_for_it(
    logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    down = Listener()  # bound, not listening: connections are refused
    try:
        buffered = BufferedLogstashHandler("127.0.0.1", down.port, chunk_size=1)
        direct = LogstashHandler("127.0.0.1", down.port)
        logger.addHandler(buffered)
        logger.addHandler(direct)
        logger.error("lost by the direct handler, kept by the buffered one")
        logger.error("again")
        errors = capsys.readouterr().err.splitlines()
        assert len(errors) == 2  # once per handler, not once per record
        assert all(f"logstash server 127.0.0.1:{down.port} has failed" in e for e in errors)
        assert len(buffered.log_queue) == 2
        logger.removeHandler(direct)
        down.serve()
        buffered.flush()
        assert [r["message"] for r in down.records()] == [
            "lost by the direct handler, kept by the buffered one",
            "again",
        ]
    finally:
        down.close()


def test_handlers_are_accepted_by_the_worker_logging_config(listener: Listener) -> None:
    handlers = [
        LogstashHandler("127.0.0.1", listener.port),
        BufferedLogstashHandler("127.0.0.1", listener.port),
    ]
    assert Logging(handlers=handlers).handlers == handlers
