"""The redis connector on a real Redis Cluster while the cluster changes under load.

A producer pushes numbered items one at a time and a consumer reserves and
acks them, each through its own connector, while (1) ``redis-cli --cluster
reshard`` moves the slot of one queue shard to another primary: nothing is
lost and no call fails; (2) the primary serving a shard is SIGKILLed and its
replica promoted (``cluster-node-timeout`` 2 s): only sergeant's own errors
reach the caller, none once the cluster is whole again, and every item pushed
after the failover is consumed. What the failover lost (replication is
asynchronous) is printed, not asserted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis
import sergeant
from sergeant.connector import Connector
from sergeant.errors import SergeantError
from sergeant_redis.cluster import ClusterConnector
from sergeant_test_support.cluster_fixtures import RedisCluster

TIMEOUT = 60.0


def wait_for(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class Load:
    """A producer and a consumer thread on one queue, each with its own connector."""

    def __init__(self, cluster: RedisCluster, name: str, lease: float = 3.0) -> None:
        self.name = name
        self.lease = lease
        params = cluster.params()
        self.producer = sergeant.connect(sergeant.config.Connector(type="redis", params=params))
        self.consumer = sergeant.connect(sergeant.config.Connector(type="redis", params=params))
        self.pushed: list[tuple[float, int]] = []  # (when acknowledged, number)
        self.consumed: set[int] = set()
        self.errors: list[tuple[float, BaseException]] = []
        self.producing = threading.Event()
        self.consuming = threading.Event()
        self.stopped = threading.Event()
        self.producing.set()
        self.consuming.set()
        self.threads = [
            threading.Thread(target=self._produce, daemon=True),
            threading.Thread(target=self._consume, daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def _produce(self) -> None:
        number = 0
        while self.producing.is_set():
            try:
                self.producer.queue_push(self.name, str(number).encode())
            except Exception as exc:
                self.errors.append((time.monotonic(), exc))
            else:
                self.pushed.append((time.monotonic(), number))
                number += 1

    def _consume(self) -> None:
        while self.consuming.is_set():
            try:
                batch = self.consumer.queue_reserve(self.name, 50, self.lease)
                self.consumed.update(int(d.item) for d in batch)
                if batch:
                    self.consumer.queue_ack(self.name, batch.receipts())
            except Exception as exc:
                self.errors.append((time.monotonic(), exc))
                batch = None
            if not batch:
                self.stopped.wait(0.01)  # nothing ready: ask again shortly

    def numbers(self, since: float = 0.0) -> set[int]:
        return {number for when, number in list(self.pushed) if when >= since}

    def drained(self) -> bool:
        """Nothing left in the queue: no item ready, delayed or in flight."""
        stats = self.consumer.queue_stats(self.name)
        return all(s.ready == 0 and s.delayed == 0 and s.in_flight == 0 for s in stats)

    def stop(self) -> None:
        self.producing.clear()
        self.consuming.clear()
        self.stopped.set()
        for thread in self.threads:
            thread.join(TIMEOUT)
        self.producer.close()
        self.consumer.close()


@pytest.fixture
def cluster(redis_cluster_factory: Callable[..., RedisCluster]) -> RedisCluster:
    return redis_cluster_factory(node_timeout_ms=2000)


@pytest.fixture
def load(cluster: RedisCluster) -> Iterator[Load]:
    running = Load(cluster, "under-load")
    yield running
    running.stop()


def shard_slot(connector: Connector, cluster: RedisCluster, shard: int) -> int:
    assert isinstance(connector, ClusterConnector)
    key = connector.shards[shard].key("sergeant:queue:under-load:high")
    return cluster.keyslot(key)


def test_a_reshard_during_load_loses_nothing(cluster: RedisCluster, load: Load) -> None:
    wait_for(lambda: len(load.consumed) >= 300, "the load to get going")
    slot = shard_slot(load.producer, cluster, 0)
    source = cluster.primary_of_slot(slot)
    target = next(s for s in cluster.primaries() if s is not source)
    low = min(low for low, _ in cluster.slots_of(source))
    moved_at = len(load.consumed)
    cluster.reshard(source, target, slot - low + 1)
    assert cluster.primary_of_slot(slot) is target
    wait_for(lambda: len(load.consumed) >= moved_at + 300, "items consumed after the reshard")
    load.producing.clear()
    wait_for(load.drained, "the queue to drain")
    missing = load.numbers() - load.consumed
    assert not missing, f"{len(missing)} items lost by the reshard"
    assert load.errors == []


def test_a_killed_primary_fails_over_and_the_connector_keeps_going(
    cluster: RedisCluster, load: Load
) -> None:
    wait_for(lambda: len(load.consumed) >= 300, "the load to get going")
    slot = shard_slot(load.producer, cluster, 0)
    victim = cluster.primary_of_slot(slot)
    before = load.numbers()
    killed_at = time.monotonic()
    cluster.kill(victim)
    cluster.wait_ok(primaries=3)
    whole_at = time.monotonic()
    promoted = cluster.primary_of_slot(slot)
    assert promoted is not victim

    # After the window: new items keep flowing, on every shard (shard 0 on the promoted replica)
    wait_for(lambda: len(load.numbers(whole_at)) >= 500, "pushes after the failover")
    labels = [s.node for s in load.consumer.queue_stats(load.name)]
    assert labels[0] == f"shard 0 @ {promoted.address}", labels
    load.producing.clear()
    wait_for(load.drained, "the queue to drain")
    after = load.numbers(whole_at)
    assert after <= load.consumed, f"{len(after - load.consumed)} items pushed after it lost"

    escaped = [exc for _, exc in load.errors if not isinstance(exc, SergeantError)]
    assert escaped == [], escaped
    late = [exc for when, exc in load.errors if when > whole_at + 10]  # back-off ≤ 5 s
    assert late == [], late
    lost = before - load.consumed
    print(
        f"failover: {len(before)} pushed before the kill, {len(lost)} lost; "
        f"{len(load.errors)} sergeant errors in the window "
        f"({whole_at - killed_at:.1f} s to a whole cluster)"
    )


def test_an_unreachable_cluster_raises_sergeants_error_naming_the_nodes() -> None:
    from sergeant.errors import ConnectorUnavailableError
    from sergeant_test_support.redis_fixtures import free_port

    port = free_port()
    params = {"cluster": {"nodes": [{"host": "127.0.0.1", "port": port}]}}
    with pytest.raises(ConnectorUnavailableError, match=f"127.0.0.1:{port}"):
        sergeant.connect(sergeant.config.Connector(type="redis", params=params))


def test_a_plain_server_is_not_taken_for_a_cluster(redis_server: object) -> None:
    from sergeant.errors import ConnectorUnavailableError

    params = {"cluster": {"nodes": [{"host": "127.0.0.1", "port": redis_server.port}]}}  # type: ignore[attr-defined]
    with pytest.raises(ConnectorUnavailableError, match="not enabled"):
        sergeant.connect(sergeant.config.Connector(type="redis", params=params))


def test_a_half_migrated_slot_never_drops_an_expired_lease(cluster: RedisCluster) -> None:
    """The scripts reach a lease's group key without declaring it. When a slot
    is half migrated and that key has already moved, Redis aborts the script
    ('non local key') before it writes anything for the group, so reclaiming
    the expired lease fails for now instead of dropping its items; once the
    slot has moved, the item is handed out again."""
    params = cluster.params(shards=1)
    connector = sergeant.connect(sergeant.config.Connector(type="redis", params=params))
    assert isinstance(connector, ClusterConnector)
    try:
        connector.queue_push("half", b"the item")
        (first,) = connector.queue_reserve("half", 1, 0.2)
        leases = connector.shards[0].key("sergeant:queue:half:leases")
        slot = cluster.keyslot(leases)
        source = cluster.primary_of_slot(slot)
        target = next(s for s in cluster.primaries() if s is not source)
        on_source = redis.Redis(host="127.0.0.1", port=source.port)
        on_target = redis.Redis(host="127.0.0.1", port=target.port)
        ((token, expiry),) = on_source.zrange(leases, 0, -1, withscores=True)
        group = f"{leases}:{token.decode()}"
        assert on_source.exists(group)
        wait_for(lambda: float(on_source.time()[0]) > expiry + 0.05, "the lease to run out")

        source_id, target_id = cluster.node_id(source), cluster.node_id(target)
        on_target.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        on_source.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        address = ("127.0.0.1", target.port, "", 0, 5000)
        on_source.execute_command("MIGRATE", *address, "KEYS", group)  # only the group moves
        with pytest.raises(SergeantError):
            connector.queue_reserve("half", 1, 5.0)

        rest = on_source.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000)
        on_source.execute_command("MIGRATE", *address, "KEYS", *rest)
        for server in cluster.primaries():
            client = redis.Redis(host="127.0.0.1", port=server.port)
            client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        got: list[object] = []
        wait_for(lambda: got.extend(connector.queue_reserve("half", 1, 5.0)) or bool(got), "it")
        (again,) = got
        assert (again.item, again.deliveries) == (first.item, 2)  # type: ignore[attr-defined]
    finally:
        connector.close()
