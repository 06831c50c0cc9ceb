"""The redis connector on a real Redis Cluster (3 primaries, a replica each).

Proves: the conformance kit passes on the cluster (default shards, and more
shards than primaries); every key of one queue shard, lease groups included,
sits in one slot (as the server computes it); a queue's items spread over every
primary; keys and locks go where Redis's own slot rule puts them; stats name
each shard and the primary serving it.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import ClassVar

import pytest
import redis.cluster
import sergeant
from redis_helpers import items
from sergeant.connector import Connector
from sergeant.testing import ConnectorConformance
from sergeant_redis.cluster import ClusterConnector
from sergeant_test_support.cluster_fixtures import RedisCluster, command
from sergeant_test_support.redis_fixtures import free_cluster_port


def connect(cluster: RedisCluster, **options: object) -> Connector:
    """A connector through the registry, as a user would build it."""
    return sergeant.connect(
        sergeant.config.Connector(type="redis", params=cluster.params(**options))
    )


@pytest.fixture
def connector(redis_cluster: RedisCluster) -> Iterator[Connector]:
    made = connect(redis_cluster)
    yield made
    made.close()


@pytest.fixture
def raw(redis_cluster: RedisCluster) -> Iterator[redis.cluster.RedisCluster]:
    """A plain cluster client, to look at what the connector stored."""
    client = redis.cluster.RedisCluster(
        startup_nodes=[redis.cluster.ClusterNode(s.host, s.port) for s in redis_cluster.servers]
    )
    yield client
    client.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class TestCluster(ConnectorConformance):
    ordered: ClassVar[bool] = False
    lease_seconds: ClassVar[float] = 0.5

    @pytest.fixture
    def connector_factory(self, redis_cluster: RedisCluster) -> Callable[[], Connector]:
        return lambda: connect(redis_cluster)


class TestClusterFiveShards(ConnectorConformance):
    """More shards than primaries: two shards share a primary, nothing else changes."""

    ordered: ClassVar[bool] = False
    lease_seconds: ClassVar[float] = 0.5

    @pytest.fixture
    def connector_factory(self, redis_cluster: RedisCluster) -> Callable[[], Connector]:
        return lambda: connect(redis_cluster, shards=5)


def test_the_cluster_param_makes_a_cluster_connector_with_a_shard_per_primary(
    connector: Connector, redis_cluster: RedisCluster
) -> None:
    assert isinstance(connector, ClusterConnector)
    assert len(connector.shards) == len(redis_cluster.primaries()) == 3


def push_in_turns(
    connector: Connector, name: str, payloads: list[bytes], consumable_from: float | None = None
) -> None:
    """Push ``payloads`` ten at a time: each push goes to the next shard in turn
    (one bulk push is one chunk, on one shard)."""
    for start in range(0, len(payloads), 10):
        chunk = payloads[start : start + 10]
        connector.queue_push_bulk(name, chunk, consumable_from=consumable_from)


def shard_keys(raw: redis.cluster.RedisCluster, name: str) -> dict[str, list[str]]:
    """Every key of queue ``name`` on the cluster, by hash tag."""
    found: dict[str, list[str]] = defaultdict(list)
    for key in raw.scan_iter(match=f"sergeant:queue:{{{name}#*", count=1000):
        text = key.decode()
        found[text[text.index("{") + 1 : text.index("}")]].append(text)
    return found


def test_every_key_of_a_shard_is_in_one_slot_lease_groups_included(
    connector: Connector, redis_cluster: RedisCluster, raw: redis.cluster.RedisCluster
) -> None:
    name = unique("slots")
    push_in_turns(connector, name, items(90))
    push_in_turns(connector, name, items(30, "later"), consumable_from=time.time() + 3600)
    batch = connector.queue_reserve(name, 60, 600)
    receipts = batch.receipts()
    # split groups (a part of a batch extended) and a delayed release
    by_shard: dict[str, list[str]] = defaultdict(list)
    for receipt in receipts:
        by_shard[receipt.partition(":")[0]].append(receipt)
    for shard_receipts in by_shard.values():
        assert connector.queue_extend(name, shard_receipts[:2], 900) == 2
        assert connector.queue_release(name, shard_receipts[2:3], time.time() + 3600) == 1

    found = shard_keys(raw, name)
    assert len(found) == 3, found
    group_keys = 0
    for tag, keys in found.items():
        slots = {redis_cluster.keyslot(key) for key in keys}
        assert len(slots) == 1, (tag, keys)
        group_keys += sum(":leases:" in key for key in keys)
    assert group_keys >= 3 * 2  # each shard: its batch's own group and a split one
    connector.queue_delete(name)
    assert shard_keys(raw, name) == {}


def test_a_queue_spreads_over_every_primary(
    connector: Connector, redis_cluster: RedisCluster, raw: redis.cluster.RedisCluster
) -> None:
    name = unique("spread")
    push_in_turns(connector, name, items(300))
    serving = set()
    for keys in shard_keys(raw, name).values():
        serving.add(redis_cluster.primary_of_slot(redis_cluster.keyslot(keys[0])).address)
    assert serving == {server.address for server in redis_cluster.primaries()}

    stats = connector.queue_stats(name)
    assert len(stats) == 3
    assert all(entry.ready > 0 for entry in stats)
    assert sum(entry.ready for entry in stats) == 300
    labelled = {entry.node.rpartition(" @ ")[2] for entry in stats}
    assert labelled == serving
    assert sorted(entry.node.partition(" @ ")[0] for entry in stats) == [
        "shard 0",
        "shard 1",
        "shard 2",
    ]
    assert len(connector.queue_pop_bulk(name, 300)) == 300


def test_keys_and_locks_go_to_the_slot_redis_gives_them(
    connector: Connector, redis_cluster: RedisCluster
) -> None:
    prefix = unique("key")
    primaries = set()
    for i in range(30):
        key = f"{prefix}-{i}"
        assert connector.key_set(key, b"v%d" % i) is True
        stored = f"sergeant:key:{key}"
        owner = redis_cluster.primary_of_slot(redis_cluster.keyslot(stored))
        assert command(owner, "GET", stored) == b"v%d" % i
        primaries.add(owner.address)
        assert connector.key_get(key) == b"v%d" % i
        assert connector.key_delete(key) is True
    assert len(primaries) == 3

    lock = connector.lock(unique("lock"))
    assert lock.acquire(timeout=5, check_interval=0.05, ttl=60)
    stored = f"sergeant:lock:{lock.name}"
    owner = redis_cluster.primary_of_slot(redis_cluster.keyslot(stored))
    assert command(owner, "EXISTS", stored) == b":1"
    assert lock.release()
    assert command(owner, "EXISTS", stored) == b":0"


def test_a_reserve_batch_from_every_shard_is_acked_on_its_shard(connector: Connector) -> None:
    name = unique("receipts")
    push_in_turns(connector, name, items(30))
    batch = connector.queue_reserve(name, 30, 60)
    assert len(batch) == 30
    assert {receipt.partition(":")[0] for receipt in batch.receipts()} == {"0", "1", "2"}
    assert connector.queue_ack(name, batch.receipts()) == 30
    assert connector.queue_length(name, include_delayed=True) == 0
    assert sum(entry.in_flight for entry in connector.queue_stats(name)) == 0


def test_queue_names_with_tag_characters_round_trip(
    connector: Connector, redis_cluster: RedisCluster, raw: redis.cluster.RedisCluster
) -> None:
    base = unique("odd")
    names = [f"{base}#1", f"{base}:x:high", f"{base}{{in}}", f"{base}}}b", f"{{{base}"]
    for name in names:
        push_in_turns(connector, name, items(30))
    listed = set(connector.queue_names())
    assert set(names) <= listed

    def slots_of(name: str) -> set[int]:
        keys = [k for group in shard_keys(raw, name).values() for k in group]
        assert keys
        return {redis_cluster.keyslot(key) for key in keys}

    assert len(slots_of(f"{base}#1")) == 3
    # a '}' in the name cuts the hash tag short (Redis's rule): its shards share one slot
    assert len(slots_of(f"{base}}}b")) == 1
    for name in names:
        assert connector.queue_length(name) == 30
        assert len(connector.queue_pop_bulk(name, 100)) == 30
    assert not set(names) & set(connector.queue_names())


def test_cluster_nodes_get_ports_whose_bus_port_redis_accepts() -> None:
    # Redis refuses a cluster port over 55535 (its bus listens 10,000 higher);
    # the kernel's ephemeral ports reach 60999, often several high ones in a row.
    ports = [free_cluster_port() for _ in range(50)]
    assert all(20000 <= port <= 55535 for port in ports), ports


def test_the_cluster_fixture_listens_on_such_ports(redis_cluster: RedisCluster) -> None:
    assert all(server.port <= 55535 for server in redis_cluster.servers), redis_cluster


def native_copies(redis_cluster: RedisCluster) -> int:
    """COPY and SORT calls the primaries have run (scripts' included)."""
    total = 0
    for primary in redis_cluster.primaries():
        for line in command(primary, "INFO", "commandstats").decode().splitlines():
            if line.startswith(("cmdstat_sort:", "cmdstat_copy:")):
                total += int(line.split("calls=")[1].split(",")[0])
    return total


def test_large_reserves_copy_natively_on_every_shard(
    connector: Connector, redis_cluster: RedisCluster
) -> None:
    """A lease list's key carries its shard's hash tag, so the LRANGE that reads
    the copied items back goes to the shard's primary like the script did."""
    name = unique("copy")
    pushed = items(120)
    push_in_turns(connector, name, pushed)
    connector.queue_length(name)  # the ACL probe: copying is allowed after it
    before = native_copies(redis_cluster)
    batch = connector.queue_reserve(name, 120, 60)
    assert native_copies(redis_cluster) == before + 3
    assert sorted(d.item for d in batch) == sorted(pushed)
    for shard in "012":
        got = [d.item for d in batch if d.receipt.startswith(shard + ":")]
        assert got == sorted(got), "each shard hands out in the order it was given"
    assert connector.queue_ack(name, batch.receipts()) == 120
    assert connector.queue_length(name, include_delayed=True) == 0


def test_pushes_pass_over_a_shard_whose_primary_is_full(
    connector: Connector, redis_cluster: RedisCluster
) -> None:
    queue = unique("full")
    primary = redis_cluster.primaries()[0]
    command(primary, "CONFIG", "SET", "maxmemory", "1")  # full at once (noeviction)
    try:
        for item in items(30):
            connector.queue_push(queue, item)
        assert connector.queue_length(queue) == 30
    finally:
        command(primary, "CONFIG", "SET", "maxmemory", "0")
    assert sorted(connector.queue_pop_bulk(queue, 30)) == items(30)
