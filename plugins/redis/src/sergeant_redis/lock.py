"""Locks: one redis key per lock, holding the current owner's random token.

The key is ``sergeant:lock:<name>`` on the node chosen by rendezvous hashing.
Expiry is the server's own key TTL, so client clocks never matter. ``release``
and ``set_ttl`` are Lua scripts that compare the token first: an expired lock
taken by someone else is not this holder's to delete or extend. An object
collected while it holds the lock frees it the same owner-checked way
(:func:`sergeant.connector.release_when_collected`).
"""

from __future__ import annotations

import functools
import math
import secrets
import time
from collections.abc import Callable

from sergeant.connector import CollectedRelease, Lock, release_when_collected, settle_collected
from sergeant.validation import check_positive, check_set_ttl, check_timeout, check_ttl

from sergeant_redis.node import Node
from sergeant_redis.scripts import LOCK_RELEASE, LOCK_SET_TTL

__all__ = ["LOCK_PREFIX", "RedisLock"]

LOCK_PREFIX = "sergeant:lock:"


def _release(node: Callable[[], Node], key: str, token: str) -> bool:
    """Free the lock at ``key`` if ``token`` still holds it."""
    return bool(node().script(LOCK_RELEASE, (key,), token) == 1)


class RedisLock(Lock):
    """A named lock with an owner token per acquisition."""

    def __init__(self, name: str, node: Callable[[], Node]) -> None:
        settle_collected()
        self.name = name
        self.key = LOCK_PREFIX + name
        self._node = node
        self._token: str | None = None
        self._collected: CollectedRelease | None = None

    def _hold(self, token: str | None) -> None:
        if self._collected is not None:
            self._collected.detach()
            self._collected = None
        self._token = token
        if token is not None:
            self._collected = release_when_collected(
                self, functools.partial(_release, self._node, self.key, token)
            )

    def __repr__(self) -> str:
        return f"RedisLock({self.name!r}, held={self._token is not None})"

    def acquire(
        self, timeout: float | None = None, check_interval: float = 1.0, ttl: int = 60
    ) -> bool:
        settle_collected()
        seconds = check_ttl(ttl)
        wait = check_timeout(timeout)
        interval = check_positive("check_interval", check_interval)
        deadline = None if wait is None else time.monotonic() + wait
        token = secrets.token_hex(16)
        while True:
            if self._node().execute("SET", self.key, token, "NX", "EX", seconds):
                self._hold(token)
                return True
            if deadline is None:
                time.sleep(interval)
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(interval, left))

    def release(self) -> bool:
        token = self._token
        if token is None:
            return False
        released = _release(self._node, self.key, token)
        self._hold(None)
        return released

    def is_locked(self) -> bool:
        settle_collected()
        return bool(self._node().execute("EXISTS", self.key))

    def set_ttl(self, ttl: int) -> bool:
        seconds = check_set_ttl(ttl)
        if seconds == 0:
            return self.release()
        if self._token is None:
            return False
        return bool(self._node().script(LOCK_SET_TTL, (self.key,), self._token, seconds) == 1)

    def get_ttl(self) -> int | None:
        milliseconds = int(self._node().execute("PTTL", self.key))
        return math.ceil(milliseconds / 1000) if milliseconds >= 0 else None
