"""A node whose host and port name a server that is not Redis (an HTTP server, a
port that sends bytes of its own): the error says so and names the fields to
check, rather than a bare protocol error from inside the driver."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import sergeant
from sergeant.errors import StorageError

REPLIES = {
    "http": b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
    "binary": b"\x00\xff\x16\x03\x01 not redis\r\n",
}


@pytest.fixture(params=sorted(REPLIES))
def not_redis(request: pytest.FixtureRequest) -> Iterator[int]:
    """A loopback port that answers every connection with one foreign reply."""
    reply = REPLIES[request.param]
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(4096)
                    conn.sendall(reply)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


def test_a_port_that_is_not_redis_is_named_with_the_fields_to_check(not_redis: int) -> None:
    config = sergeant.config.Connector(
        type="redis", params={"nodes": [{"host": "127.0.0.1", "port": not_redis}]}
    )
    with sergeant.connect(config) as connector, pytest.raises(StorageError) as raised:
        connector.queue_push("q", b"item")
    message = str(raised.value)
    assert f"127.0.0.1:{not_redis}" in message
    assert "does not answer in the Redis protocol" in message
    assert "nodes[0].host and nodes[0].port" in message
