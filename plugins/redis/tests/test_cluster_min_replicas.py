"""``min_replicas`` on a real Redis Cluster (3 primaries, a replica each).

Proves: with ``min_replicas=1`` writes return once the replica of the primary
owning their slot has them (read there at once, no polling); with the replicas
paused (SIGSTOP) a push raises ReplicationError naming the numbers and the
primary, the write is on the primary (reported failed, not undone), and pops
are not waited for, so nothing popped is lost; a write whose slot moved to
another primary under the connector (``redis-cli --cluster reshard``) is
followed to the new owner and waited for there; and the conformance kit passes
with ``min_replicas=1``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import ClassVar

import pytest
import redis
import sergeant
from sergeant.connector import Connector
from sergeant.errors import ConnectorUnavailableError
from sergeant.testing import ConnectorConformance
from sergeant_redis.cluster import ClusterConnector
from sergeant_redis.replication import ReplicationError
from sergeant_test_support.cluster_fixtures import RedisCluster, command
from sergeant_test_support.redis_fixtures import RedisServer

TIMEOUT = 60.0


def connect(cluster: RedisCluster, **options: object) -> Connector:
    return sergeant.connect(
        sergeant.config.Connector(type="redis", params=cluster.params(**options))
    )


@pytest.fixture
def connectors() -> Iterator[Callable[..., Connector]]:
    made: list[Connector] = []

    def make(cluster: RedisCluster, **options: object) -> Connector:
        connector = connect(cluster, **options)
        made.append(connector)
        return connector

    yield make
    for connector in made:
        connector.close()


def replicas_of(cluster: RedisCluster, primary: RedisServer) -> list[RedisServer]:
    out = []
    for server in cluster.live():
        if cluster.role(server) != "slave":
            continue
        info = command(server, "INFO", "replication").decode()
        if f"master_port:{primary.port}\r\n" in info:
            out.append(server)
    return out


def read_on_replica(replica: RedisServer, key: str) -> bytes | None:
    """``GET`` on a replica (``READONLY`` first, on the same connection)."""
    client = redis.Redis(replica.host, replica.port, single_connection_client=True)
    try:
        client.execute_command("READONLY")
        value: bytes | None = client.get(key)
        return value
    finally:
        client.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class TestClusterMinReplicas(ConnectorConformance):
    """Every clause of the kit, each write waited for by a replica."""

    ordered: ClassVar[bool] = False
    lease_seconds: ClassVar[float] = 0.5

    @pytest.fixture
    def connector_factory(self, redis_cluster: RedisCluster) -> Callable[[], Connector]:
        return lambda: connect(redis_cluster, min_replicas=1, min_replicas_timeout=30)


def test_a_write_returns_once_the_slot_owners_replica_has_it(
    redis_cluster: RedisCluster, connectors: Callable[..., Connector]
) -> None:
    connector = connectors(redis_cluster, min_replicas=1, min_replicas_timeout=30)
    assert isinstance(connector, ClusterConnector)
    for _ in range(10):
        name = unique("k")
        assert connector.key_set(name, b"v")
        key = f"sergeant:key:{name}"
        primary = redis_cluster.primary_of_slot(redis_cluster.keyslot(key))
        (replica,) = replicas_of(redis_cluster, primary)
        # WAIT already saw the replica acknowledge: read once, no polling.
        assert read_on_replica(replica, key) == b"v"
    queue = unique("q")
    connector.queue_push_bulk(queue, [b"a", b"b", b"c"])
    assert sorted(connector.queue_pop_bulk(queue, 10)) == [b"a", b"b", b"c"]


def test_paused_replicas_fail_a_push_naming_the_numbers(
    redis_cluster_factory: Callable[..., RedisCluster], connectors: Callable[..., Connector]
) -> None:
    cluster = redis_cluster_factory(node_timeout_ms=2000)
    connector = connectors(cluster, min_replicas=1, min_replicas_timeout=0.2)
    patient = connectors(cluster, min_replicas=1, min_replicas_timeout=30)
    queue = unique("q")
    patient.queue_push(queue, b"before")
    primaries = cluster.primaries()
    replicas = [s for s in cluster.live() if s not in primaries]
    assert len(replicas) == 3
    for replica in replicas:
        replica.pause()
    try:
        started = time.monotonic()
        with pytest.raises(ReplicationError) as caught:
            connector.queue_push(queue, b"unconfirmed")
        assert time.monotonic() - started < TIMEOUT  # bounded by min_replicas_timeout
        assert isinstance(caught.value, ConnectorUnavailableError)
        assert (caught.value.acknowledged, caught.value.wanted) == (0, 1)
        message = str(caught.value)
        assert "0 of the 1 replicas" in message
        assert any(primary.address in message for primary in primaries), message
        with pytest.raises(ReplicationError, match="0 of the 1 replicas"):
            connector.key_set(unique("k"), b"v")
        # Reported failed, but made on the primary; pops are not waited for.
        assert connector.queue_length(queue) == 2
        assert sorted(connector.queue_pop_bulk(queue, 10)) == [b"before", b"unconfirmed"]
    finally:
        for replica in replicas:
            replica.resume()
    cluster.wait_ok(TIMEOUT)
    patient.queue_push(queue, b"after")
    assert patient.queue_pop(queue) == b"after"


def test_a_write_whose_slot_moved_is_waited_for_on_the_new_owner(
    redis_cluster_factory: Callable[..., RedisCluster], connectors: Callable[..., Connector]
) -> None:
    cluster = redis_cluster_factory(node_timeout_ms=2000)
    connector = connectors(cluster, min_replicas=1, min_replicas_timeout=30)
    name = unique("moving")
    key = f"sergeant:key:{name}"
    assert connector.key_set(name, b"first")  # the connector now knows the slot's owner
    slot = cluster.keyslot(key)
    source = cluster.primary_of_slot(slot)
    target = next(s for s in cluster.primaries() if s is not source)
    low = min(low for low, high in cluster.slots_of(source) if low <= slot <= high)
    cluster.reshard(source, target, slot - low + 1)
    assert cluster.primary_of_slot(slot) is target
    # The connector's slot map is stale: the write is redirected (MOVED) and
    # waited for on the new owner, whose replica has it at once.
    assert connector.key_set(name, b"second") is False
    (replica,) = replicas_of(cluster, target)
    assert read_on_replica(replica, key) == b"second"
    assert connector.key_get(name) == b"second"
