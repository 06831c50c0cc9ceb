"""A Sentinel failover under load: SIGKILL the primary while a producer pushes
and a worker reserves and acks on the same connector object; the sentinels
promote a replica and the connector carries on against it. During the window
the only error the calls raise is ConnectorUnavailableError (nothing else
escapes); after it pushes, reserves and acks work again. With
``min_replicas=1`` every push that returned is still there after the
failover (each is counted); without it the test records how many were lost
(replication is asynchronous: it may be none on a quiet loopback).

The figures (failover window, pushes refused, pushes lost) are printed
(``pytest -s``); the reliability scenario 15 records them in its report."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import redis
import sergeant
from sergeant.connector import Connector
from sergeant.errors import ConnectorUnavailableError
from sergeant_test_support.sentinel_fixtures import SentinelDeployment, wait_until

#: Pushes acknowledged before the kill, and after the new primary is in place.
BEFORE, AFTER = 300, 300
LEASE = 2.0
PASSWORD = "failover-test-pw"


@dataclass
class Load:
    """What the producer and the worker threads saw."""

    connector: Connector
    queue: str
    stop: threading.Event = field(default_factory=threading.Event)
    acked: list[int] = field(default_factory=list)
    ack_times: list[float] = field(default_factory=list)
    consumed: set[int] = field(default_factory=set)
    unavailable: dict[str, int] = field(default_factory=lambda: {"push": 0, "worker": 0})
    escaped: list[BaseException] = field(default_factory=list)

    def produce(self) -> None:
        attempt = 0
        while not self.stop.is_set():
            attempt += 1
            try:
                self.connector.queue_push(self.queue, str(attempt).encode())
            except ConnectorUnavailableError:
                self.unavailable["push"] += 1
                continue
            except BaseException as exc:
                self.escaped.append(exc)
                return
            self.acked.append(attempt)
            self.ack_times.append(time.monotonic())

    def work(self) -> None:
        while not self.stop.is_set():
            try:
                self.drain_once()
            except ConnectorUnavailableError:
                self.unavailable["worker"] += 1
            except BaseException as exc:
                self.escaped.append(exc)
                return

    def drain_once(self) -> int:
        batch = self.connector.queue_reserve(self.queue, 50, LEASE)
        if batch:
            self.consumed.update(int(delivery.item) for delivery in batch)
            self.connector.queue_ack(self.queue, batch.receipts())
        return len(batch)


def connect(params: dict[str, object]) -> Connector:
    return sergeant.connect(sergeant.config.Connector(type="redis", params=params))


@pytest.mark.parametrize("min_replicas", [1, 0])
def test_failover_under_load(
    sentinel_factory: Callable[..., SentinelDeployment],
    min_replicas: int,
) -> None:
    deployment = sentinel_factory(down_after_ms=1000, failover_timeout_ms=3000)
    extra = {"min_replicas": min_replicas, "min_replicas_timeout": 2.0} if min_replicas else {}
    connector = connect(deployment.params(**extra))
    load = Load(connector, f"failover-{uuid.uuid4().hex}")
    threads = [threading.Thread(target=load.produce), threading.Thread(target=load.work)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(load.acked) >= BEFORE or load.escaped, "pushes before the kill")
        killed_at = time.monotonic()
        old = deployment.kill_primary()
        deployment.wait_failover(old)
        promoted_at = time.monotonic()
        target = len(load.acked) + AFTER
        wait_until(lambda: len(load.acked) >= target or load.escaped, "pushes after the failover")
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not load.escaped, f"only ConnectorUnavailableError may escape: {load.escaped!r}"

    # The same connector object drains the queue: reserve + ack until nothing is left.
    def drained() -> bool:
        while load.drain_once():
            pass
        (stats,) = connector.queue_stats(load.queue)
        return stats.ready + stats.delayed + stats.in_flight == 0

    wait_until(drained, "the queue drained after the failover")
    connector.close()

    lost = sorted(set(load.acked) - load.consumed)
    # The window: the longest stretch without an acknowledged push, around the kill.
    times = [t for t in load.ack_times if t >= killed_at - 1.0]
    window = max(later - earlier for earlier, later in itertools.pairwise(times))
    figures = {
        "min_replicas": min_replicas,
        "acknowledged_pushes": len(load.acked),
        "lost_pushes": len(lost),
        "pushes_refused_during_window": load.unavailable["push"],
        "worker_calls_refused_during_window": load.unavailable["worker"],
        "failover_window_seconds": round(window, 2),
        "sentinel_promotion_seconds": round(promoted_at - killed_at, 2),
    }
    print(f"failover figures: {figures}")
    assert load.unavailable["push"] > 0, "the kill should have refused some pushes"
    if min_replicas:
        assert lost == [], f"{len(lost)} acknowledged pushes lost with min_replicas=1"


@pytest.mark.parametrize("min_replicas", [1, 0])
def test_pushes_the_replicas_lag_behind_on(
    sentinel_factory: Callable[..., SentinelDeployment],
    min_replicas: int,
) -> None:
    """The replicas fall behind (their link to the primary drops: a wrong
    ``masterauth`` keeps them from coming back), the producer keeps pushing,
    then the primary dies: the replica promoted lacks what it had not received.
    Without ``min_replicas`` those pushes were acknowledged and are lost; with
    it they were refused (ReplicationError), and no acknowledged push is lost.
    (SIGSTOP would not do: the kernel buffers the stream for a stopped replica.)"""
    deployment = sentinel_factory(password=PASSWORD, down_after_ms=1000, failover_timeout_ms=3000)
    extra = {"min_replicas": min_replicas, "min_replicas_timeout": 0.05} if min_replicas else {}
    connector = connect(deployment.params(**extra))
    # The pushes made while the replicas are attached wait long: a busy machine
    # may take over 0.05 s to replicate, and these must succeed.
    patient = connect(deployment.params(**{**extra, "min_replicas_timeout": 30} if extra else {}))
    queue = f"lag-{uuid.uuid4().hex}"
    acked: list[int] = []
    refused = 0
    for number in range(100):
        patient.queue_push(queue, str(number).encode())
        acked.append(number)
    primary = deployment.primary()
    replicas = [server for server in deployment.servers if server is not primary]
    for replica in replicas:
        client = redis.Redis(replica.host, replica.port, password=PASSWORD)
        client.config_set("masterauth", "wrong")
        client.client_kill_filter(_type="master")
    wait_until(
        lambda: (
            redis.Redis(primary.host, primary.port, password=PASSWORD).info("replication")[
                "connected_slaves"
            ]
            == 0
        ),
        "the replicas cut off",
    )
    try:
        for number in range(100, 140):
            try:
                connector.queue_push(queue, str(number).encode())
            except ConnectorUnavailableError:
                refused += 1
            else:
                acked.append(number)
        deployment.kill_primary()
    finally:
        for replica in replicas:
            redis.Redis(replica.host, replica.port, password=PASSWORD).config_set(
                "masterauth", PASSWORD
            )
    deployment.wait_failover(primary)

    def everything() -> set[int] | None:
        found = {int(item) for item in connector.queue_peek(queue, 1000)}
        return found if len(found) >= 100 else None

    present: set[int] = wait_until(everything, "the queue on the new primary")
    connector.close()
    patient.close()
    lost = sorted(set(acked) - present)
    print(
        f"lagging replicas, min_replicas={min_replicas}: {len(acked)} acknowledged, "
        f"{refused} refused, {len(lost)} lost"
    )
    assert set(range(100)) <= present
    if min_replicas:
        assert lost == []
        assert refused == 40
    else:
        assert refused == 0
        assert len(lost) == 40


def test_a_demoted_primary_sends_the_retry_to_the_new_one(
    sentinel_factory: Callable[..., SentinelDeployment],
) -> None:
    """A coordinated failover (``SENTINEL FAILOVER``) leaves the old primary up
    as a replica, with the connector's connections still open to it: the next
    write meets READONLY, which counts as a connection error, and the one retry
    reaches the new primary. No call fails."""
    deployment = sentinel_factory(down_after_ms=30000, failover_timeout_ms=3000)
    connector = connect(deployment.params())
    queue = f"demoted-{uuid.uuid4().hex}"
    try:
        connector.queue_push(queue, b"before")
        assert connector.key_set(f"{queue}-key", b"before")
        old = deployment.primary()
        deployment.sentinels[0].client().sentinel_failover(deployment.service_name)
        new = deployment.wait_failover(old)
        wait_until(
            lambda: redis.Redis(old.host, old.port).role()[0] == b"slave", "the old primary demoted"
        )
        connector.queue_push(queue, b"after")  # a plain RPUSH
        connector.queue_push(queue, b"delayed", consumable_from=4102444800.0)  # a script
        assert connector.key_set(f"{queue}-key", b"after") is False
        batch = connector.queue_reserve(queue, 10, 30)
        assert [delivery.item for delivery in batch] == [b"before", b"after"]
        assert connector.queue_ack(queue, batch.receipts()) == 2
        assert connector.queue_length(queue, include_delayed=True) == 1
        new_client = redis.Redis(new.host, new.port)
        assert new_client.get(f"sergeant:key:{queue}-key") == b"after"
    finally:
        connector.close()
