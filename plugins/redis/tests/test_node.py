"""Connections: one per thread and process, one quick retry after a dropped
socket, none after a timeout, and close() drops them all."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from sergeant.connector import Connector
from sergeant.errors import ConnectorUnavailableError
from sergeant.testing import wait_until
from sergeant_redis import RedisConnector
from sergeant_test_support.redis_fixtures import RedisServer

Connectors = Callable[..., Connector]


def sergeant_clients(server: RedisServer) -> int:
    """How many connections named ``sergeant`` the server has now."""
    admin = redis.Redis(host=server.host, port=server.port, password=server.password)
    try:
        return sum(1 for client in admin.client_list() if client["name"] == "sergeant")
    finally:
        admin.close()


def test_threads_share_a_connector_each_on_its_own_connection(
    redis_server_factory: Callable[..., RedisServer], connectors: Connectors
) -> None:
    server = redis_server_factory()
    connector = connectors([server])
    queue = f"threads-{uuid.uuid4().hex[:8]}"
    items = [f"{i:05d}".encode() for i in range(2000)]
    connector.queue_push_bulk(queue, items)
    got: list[list[bytes]] = [[] for _ in range(4)]
    started = threading.Barrier(4)

    def consume(index: int) -> None:
        started.wait()
        while (item := connector.queue_pop(queue)) is not None:
            got[index].append(item)
            reserved = connector.queue_reserve(queue, 3, 30)
            got[index].extend(d.item for d in reserved)
            assert connector.queue_ack(queue, [d.receipt for d in reserved]) == len(reserved)

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(item for chunk in got for item in chunk) == items
    assert sum(bool(chunk) for chunk in got) >= 2, "the threads ran side by side"
    assert sergeant_clients(server) >= 2, "one connection per thread that used the node"
    connector.close()
    wait_until(lambda: sergeant_clients(server) == 0, timeout=10, message="close to drop them all")
    assert connector.queue_push(queue, b"after close") is True, "a later call reconnects"
    assert connector.queue_pop(queue) == b"after close"


def test_a_forked_child_opens_its_own_connection(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector = connectors([redis_server])
    assert isinstance(connector, RedisConnector)
    queue = f"fork-{uuid.uuid4().hex[:8]}"
    connector.queue_push(queue, b"parent")  # the parent's connection is open now
    parent_id = connector.nodes[0].execute("CLIENT", "ID")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: talks over the parent's socket unless it opens its own
        code = 1
        try:
            os.close(read)
            child_id = connector.nodes[0].execute("CLIENT", "ID")
            for i in range(200):
                connector.queue_push(queue, f"child-{i}".encode())
            os.write(write, str(child_id).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    try:
        for i in range(200):
            connector.queue_push(queue, f"parent-{i}".encode())
        child_id = int(os.read(read, 32) or b"0")
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_id not in (0, parent_id)
    assert connector.nodes[0].execute("CLIENT", "ID") == parent_id, "the parent's is untouched"
    got = connector.queue_pop_bulk(queue, 1000)
    assert sorted(got) == sorted(
        [b"parent"] + [f"{who}-{i}".encode() for who in ("child", "parent") for i in range(200)]
    )


def test_a_dropped_connection_is_retried_once_unnoticed(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector = connectors([redis_server])
    queue = f"dropped-{uuid.uuid4().hex[:8]}"
    connector.queue_push(queue, b"one")
    redis_server.command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    assert connector.queue_push(queue, b"two") is True
    assert connector.queue_pop_bulk(queue, 10) == [b"one", b"two"]


def test_a_timeout_is_not_retried(
    redis_server_factory: Callable[..., RedisServer], connectors: Connectors
) -> None:
    server = redis_server_factory()
    connector = connectors([server], socket_timeout=0.3)
    queue = f"timeout-{uuid.uuid4().hex[:8]}"
    connector.queue_push(queue, b"first")
    server.pause()
    try:
        with pytest.raises(ConnectorUnavailableError, match="nodes\\[0\\]"):
            connector.queue_push(queue, b"once")
    finally:
        server.resume()
    # The push reached the server before it stalled: it runs once, not twice.
    got: list[bytes] = []
    wait_until(
        lambda: got.extend(connector.queue_pop_bulk(queue, 10)) or len(got) >= 2,
        timeout=10,
        message="the node to answer again",
    )
    assert got == [b"first", b"once"]
    assert connector.queue_pop_bulk(queue, 10) == []


def test_a_unix_socket_path_as_host(
    redis_server_factory: Callable[..., RedisServer], tmp_path: Path
) -> None:
    path = tmp_path / "redis.sock"
    server = redis_server_factory(
        password="s3cret", extra_config=(f"unixsocket {path}", "unixsocketperm 700")
    )
    connector = RedisConnector(nodes=[{"host": str(path), "password": "s3cret"}])
    try:
        connector.queue_push("q", b"over the socket")
        batch = connector.queue_reserve("q", 5, 10.0)
        assert [d.item for d in batch] == [b"over the socket"]
        assert connector.queue_ack("q", batch.receipts()) == 1
        assert connector.queue_stats("q")[0].node == str(path)
        admin = redis.Redis(host=server.host, port=server.port, password=server.password)
        ours = [c["addr"] for c in admin.client_list() if c["name"] == "sergeant"]
        admin.close()
        assert ours
        assert all(addr.startswith(str(path)) for addr in ours), ours
    finally:
        connector.close()

    missing = RedisConnector(nodes=[{"host": str(tmp_path / "absent.sock")}])
    with pytest.raises(ConnectorUnavailableError, match=r"absent\.sock \(nodes\[0\]\)"):
        missing.queue_push("q", b"x")
    missing.close()


def test_tls_to_a_plain_text_server_says_so(redis_server: RedisServer) -> None:
    connector = RedisConnector(
        nodes=[redis_server.node(ssl=True, ssl_cert_reqs="none", socket_connect_timeout=1.0)]
    )
    try:
        with pytest.raises(ConnectorUnavailableError) as caught:
            connector.queue_push("q", b"x")
    finally:
        connector.close()
    message = str(caught.value)
    assert "nodes[0].ssl is on" in message
    assert "drop ssl" in message
