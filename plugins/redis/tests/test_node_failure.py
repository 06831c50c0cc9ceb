"""A node dies mid-run: work goes on against the live one, and nothing it held is lost."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable

import pytest
from sergeant.connector import Connector
from sergeant.errors import ConnectorUnavailableError
from sergeant.nodes import rendezvous
from sergeant.testing import wait_until
from sergeant_redis import RedisConnector
from sergeant_redis.params import node_names
from sergeant_test_support.redis_fixtures import RedisServer

Connectors = Callable[..., Connector]


def name_on(connector: Connector, index: int, tag: str) -> str:
    """A key name that rendezvous hashing puts on node ``index``."""
    assert isinstance(connector, RedisConnector)
    names = node_names(connector.node_params)
    return next(f"{tag}-{i}" for i in range(1000) if rendezvous(names, f"{tag}-{i}") == index)


def test_kill_one_node_mid_run_then_restart_delivers_everything(
    redis_server_factory: Callable[..., RedisServer], connectors: Connectors
) -> None:
    live, dying = redis_server_factory(appendonly=True), redis_server_factory(appendonly=True)
    connector = connectors([live, dying])
    queue = f"crash-{uuid.uuid4().hex[:8]}"
    pushed: list[bytes] = []
    delivered: list[bytes] = []
    for i in range(400):
        if i == 200:
            dying.kill()
        item = f"item-{i:04d}".encode()
        assert connector.queue_push(queue, item) is True
        pushed.append(item)
        if i % 3 == 0 and (got := connector.queue_pop(queue)) is not None:
            delivered.append(got)
        if i % 50 == 0:
            delivered.extend(connector.queue_pop_bulk(queue, 10))
    delivered.extend(connector.queue_pop_bulk(queue, 1000))
    stranded = set(pushed) - set(delivered)
    assert stranded, "the killed node still held items pushed before the kill"
    assert connector.queue_length(queue) == 0, "only the live node is counted while one is down"

    dying.restart()  # same port and directory: the append-only file is replayed

    def drained() -> bool:
        delivered.extend(connector.queue_pop_bulk(queue, 100))
        return len(delivered) >= len(pushed)

    wait_until(drained, timeout=30, message="the restarted node's items to be delivered")
    assert Counter(delivered) == Counter(pushed)


def test_reserved_items_on_a_killed_node_come_back(
    redis_server_factory: Callable[..., RedisServer], connectors: Connectors
) -> None:
    live, dying = redis_server_factory(appendonly=True), redis_server_factory(appendonly=True)
    connector = connectors([live, dying])
    queue = f"lease-{uuid.uuid4().hex[:8]}"
    connector.queue_push_bulk(queue, [b"a"] * 5)
    connector.queue_push_bulk(queue, [b"b"] * 5)
    first = connector.queue_reserve(queue, 10, 1.0)
    assert len(first) == 10
    dying.kill()
    # Acks to the dead node are not done (its items will be handed out again).
    assert connector.queue_ack(queue, [d.receipt for d in first]) == 5
    dying.restart()
    again: list[bytes] = []
    wait_until(
        lambda: (
            again.extend(d.item for d in connector.queue_reserve(queue, 10, 30)) or len(again) == 5
        ),
        timeout=30,
        message="the dead node's leases to run out and be handed out again",
    )
    assert len(set(again)) == 1


def test_keys_and_locks_on_a_dead_node_raise_naming_it(
    redis_server_factory: Callable[..., RedisServer], connectors: Connectors
) -> None:
    live, dead = redis_server_factory(), redis_server_factory(password="never-shown")
    connector = connectors([live, dead])
    on_live, on_dead = name_on(connector, 0, "k"), name_on(connector, 1, "k")
    dead.kill()
    assert connector.key_set(on_live, b"v") is True
    for call in (
        lambda: connector.key_set(on_dead, b"v"),
        lambda: connector.key_get(on_dead),
        lambda: connector.lock(on_dead).acquire(timeout=0),
    ):
        with pytest.raises(ConnectorUnavailableError) as caught:
            call()
        assert dead.address in str(caught.value)
        assert "nodes[1]" in str(caught.value)
        assert "never-shown" not in str(caught.value)
    assert connector.queue_push("q", b"x") is True
    assert connector.queue_pop("q") == b"x"


def test_every_node_down_raises(
    redis_server_factory: Callable[..., RedisServer], connectors: Connectors
) -> None:
    servers = [redis_server_factory(), redis_server_factory()]
    connector = connectors(servers)
    for server in servers:
        server.kill()
    for call in (
        lambda: connector.queue_push("q", b"x"),
        lambda: connector.queue_pop("q"),
        lambda: connector.queue_reserve("q", 1, 10),
        lambda: connector.queue_length("q"),
        lambda: connector.queue_stats("q"),
    ):
        with pytest.raises(ConnectorUnavailableError) as caught:
            call()
        assert all(server.address in str(caught.value) for server in servers)
    servers[0].restart()

    def push() -> bool:
        try:
            return connector.queue_push("q", b"back")
        except ConnectorUnavailableError:
            return False

    wait_until(push, timeout=20, message="a restarted node to be used again")
    assert connector.queue_pop("q") == b"back"


def test_ack_and_reserve_goes_on_without_a_dead_node(
    redis_server_factory: Callable[..., RedisServer], connectors: Connectors
) -> None:
    live, dying = redis_server_factory(), redis_server_factory()
    connector = connectors([live, dying])
    queue = f"combined-{uuid.uuid4().hex[:8]}"
    connectors([live]).queue_push_bulk(queue, [b"live"] * 4)
    connectors([dying]).queue_push_bulk(queue, [b"dying"] * 6)
    first = connector.queue_reserve(queue, 10, 30)
    assert sorted(d.item for d in first) == [b"dying"] * 6 + [b"live"] * 4
    connectors([live]).queue_push_bulk(queue, [b"more"] * 3)
    dying.kill()
    # Most receipts are the dead node's: its acks are not done, the reserve goes on.
    acked, got = connector.queue_ack_and_reserve(queue, [d.receipt for d in first], 5, 30)
    assert (acked, [d.item for d in got]) == (4, [b"more"] * 3)
    # Again, with the dead node in back-off: nothing left to ack or reserve.
    acked, again = connector.queue_ack_and_reserve(queue, [d.receipt for d in first], 5, 30)
    assert (acked, again) == (0, [])
    assert connector.queue_ack(queue, [d.receipt for d in got]) == 3
