"""Locks beyond the kit: owners across connectors, ttl on live and expired locks."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sergeant.connector import Connector
from sergeant.errors import ConfigError
from sergeant.testing import wait_until
from sergeant_test_support.redis_fixtures import RedisServer

Connectors = Callable[..., Connector]


def test_expired_lock_retaken_elsewhere_is_not_ours(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    name = f"lock-{uuid.uuid4().hex[:8]}"
    a, b = connectors([redis_server]).lock(name), connectors([redis_server]).lock(name)
    assert a.acquire(timeout=0, ttl=1) is True
    assert a.get_ttl() == 1
    wait_until(lambda: a.get_ttl() is None, timeout=10, message="the lock to expire")
    assert a.is_locked() is False
    assert a.set_ttl(30) is False, "an expired lock cannot be extended back to life"
    assert b.acquire(timeout=0, ttl=20) is True
    assert a.release() is False
    assert a.set_ttl(60) is False
    ttl = b.get_ttl()
    assert ttl is not None
    assert 0 < ttl <= 20
    assert b.set_ttl(45) is True
    ttl = a.get_ttl()
    assert ttl is not None
    assert 20 < ttl <= 45
    assert b.release() is True
    assert a.get_ttl() is None
    assert b.release() is False


def test_set_ttl_validates_and_needs_an_acquisition(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    lock = connectors([redis_server]).lock(f"lock-{uuid.uuid4().hex[:8]}")
    assert lock.set_ttl(10) is False
    with pytest.raises(ConfigError, match="ttl"):
        lock.set_ttl(-1)
    assert lock.set_ttl(0) is False  # not held: nothing to free
    assert lock.acquire(timeout=0, ttl=5) is True
    assert lock.set_ttl(2.5) is True  # rounded up to whole seconds
    assert lock.get_ttl() == 3
    assert lock.set_ttl(0) is True  # Sergeant's way to let a lock go at once
    assert lock.is_locked() is False
    assert lock.release() is False


def test_locks_on_two_nodes(redis_servers: list[RedisServer], connectors: Connectors) -> None:
    one, two = connectors(redis_servers), connectors(redis_servers)
    names = [f"lock-{uuid.uuid4().hex[:8]}" for _ in range(10)]
    held = [one.lock(name) for name in names]
    assert all(lock.acquire(timeout=0, ttl=30) for lock in held)
    assert not any(two.lock(name).acquire(timeout=0) for name in names)
    assert all(lock.release() for lock in held)
    assert all(two.lock(name).acquire(timeout=0, ttl=5) for name in names)


@pytest.mark.parametrize(
    ("timeout", "check_interval", "field"),
    [
        (-1, 0.01, "timeout"),
        (float("nan"), 0.01, "timeout"),
        ([], 0.01, "timeout"),
        (0, 0, "check_interval"),
        (0, "", "check_interval"),
    ],
)
def test_acquire_validates_its_waits(
    redis_server: RedisServer, connectors: Connectors, timeout: Any, check_interval: Any, field: str
) -> None:
    lock = connectors([redis_server]).lock(f"lock-{uuid.uuid4().hex[:8]}")
    with pytest.raises(ConfigError, match=field):
        lock.acquire(timeout=timeout, check_interval=check_interval, ttl=5)
    assert lock.is_locked() is False
