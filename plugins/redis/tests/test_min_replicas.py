"""``min_replicas`` on plain nodes (a primary with a ``replicaof`` replica):
a write returns once the replica has it; when too few replicas acknowledge in
time the call raises ReplicationError naming the numbers, and the write is on
the primary (reported failed, not undone); reads and the calls that hand items
out (pops, reserves) are not waited for, so a missing replica never loses a
popped item."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
import sergeant
from sergeant.connector import Connector
from sergeant.errors import ConnectorUnavailableError
from sergeant_redis.replication import ReplicationError
from sergeant_test_support.redis_fixtures import RedisServer
from sergeant_test_support.sentinel_fixtures import wait_until


@pytest.fixture
def primary_and_replica(
    redis_server_factory: Callable[..., RedisServer],
) -> tuple[RedisServer, RedisServer]:
    # No replication PINGs: the replication offsets then move only with our writes.
    primary = redis_server_factory(
        extra_config=["repl-ping-replica-period 3600", "repl-diskless-sync-delay 0"]
    )
    replica = redis_server_factory(extra_config=[f"replicaof {primary.host} {primary.port}"])

    def in_sync() -> bool:
        info = redis.Redis(primary.host, primary.port).info("replication")
        return info.get("slave0", {}).get("state") == "online"

    wait_until(in_sync, "the replica in sync")
    return primary, replica


@pytest.fixture
def connect() -> Iterator[Callable[..., Connector]]:
    made: list[Connector] = []

    def make(server: RedisServer, **params: object) -> Connector:
        config = sergeant.config.Connector(
            type="redis", params={"nodes": [server.node()], **params}
        )
        connector = sergeant.connect(config)
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


def replica_has_every_write(primary: RedisServer, replica: RedisServer) -> bool:
    """Read once, no polling: the replica has processed all the primary's writes."""
    written = redis.Redis(primary.host, primary.port).info("replication")["master_repl_offset"]
    processed = redis.Redis(replica.host, replica.port).info("replication")["slave_repl_offset"]
    return bool(processed >= written)


def test_a_push_returns_once_the_replica_has_it(
    primary_and_replica: tuple[RedisServer, RedisServer], connect: Callable[..., Connector]
) -> None:
    primary, replica = primary_and_replica
    connector = connect(primary, min_replicas=1, min_replicas_timeout=30)
    queue = f"q-{uuid.uuid4().hex}"
    for _ in range(20):
        connector.queue_push_bulk(queue, [b"a", b"b"])
        # WAIT already saw the replica acknowledge.
        assert replica_has_every_write(primary, replica)
    connector.queue_push(queue, b"later", consumable_from=4102444800.0)
    assert replica_has_every_write(primary, replica)
    assert connector.key_set(f"k-{queue}", b"v")
    assert replica_has_every_write(primary, replica)
    replica_view = sergeant.connect(
        sergeant.config.Connector(type="redis", params={"nodes": [replica.node()]})
    )
    try:
        assert replica_view.key_get(f"k-{queue}") == b"v"
    finally:
        replica_view.close()


def test_too_few_replicas_fail_the_write_naming_the_numbers(
    primary_and_replica: tuple[RedisServer, RedisServer], connect: Callable[..., Connector]
) -> None:
    primary, replica = primary_and_replica
    connector = connect(primary, min_replicas=1, min_replicas_timeout=0.2)
    # Writes that must succeed wait long: a busy machine may take over 0.2 s to replicate.
    patient = connect(primary, min_replicas=1, min_replicas_timeout=30)
    queue = f"q-{uuid.uuid4().hex}"
    patient.queue_push(queue, b"before")
    replica.pause()
    try:
        with pytest.raises(ReplicationError) as caught:
            connector.queue_push(queue, b"unconfirmed")
        assert isinstance(caught.value, ConnectorUnavailableError)
        assert (caught.value.acknowledged, caught.value.wanted) == (0, 1)
        assert "0 of the 1 replicas" in str(caught.value)
        assert primary.address in str(caught.value)
        # Reported failed, but made on the primary: documented, not undone.
        # Reads and pops are not waited for: they answer, and no popped item is lost.
        assert connector.queue_length(queue) == 2
        assert connector.queue_pop_bulk(queue, 10) == [b"before", b"unconfirmed"]
        with pytest.raises(ReplicationError):
            connector.key_set(f"k-{queue}", b"v")
    finally:
        replica.resume()
    patient.queue_push(queue, b"after")
    assert connector.queue_pop(queue) == b"after"


def test_a_node_without_replicas_fails_every_write(
    redis_server_factory: Callable[..., RedisServer], connect: Callable[..., Connector]
) -> None:
    server = redis_server_factory()
    connector = connect(server, min_replicas=1, min_replicas_timeout=0.05)
    with pytest.raises(ReplicationError, match="0 of the 1 replicas"):
        connector.queue_push("q", b"x")
    assert connector.queue_pop("q") == b"x"


def test_reserve_and_ack_with_min_replicas(
    primary_and_replica: tuple[RedisServer, RedisServer], connect: Callable[..., Connector]
) -> None:
    primary, replica = primary_and_replica
    connector = connect(primary, min_replicas=1, min_replicas_timeout=30)
    queue = f"q-{uuid.uuid4().hex}"
    connector.queue_push_bulk(queue, [b"1", b"2", b"3"])
    batch = connector.queue_reserve(queue, 3, 30)
    assert sorted(delivery.item for delivery in batch) == [b"1", b"2", b"3"]
    assert connector.queue_ack(queue, batch.receipts()) == 3
    # The ack was waited for.
    assert replica_has_every_write(primary, replica)
    assert connector.queue_length(queue) == 0
