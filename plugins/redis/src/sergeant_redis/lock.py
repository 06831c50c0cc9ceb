"""Locks: one redis key per lock, holding the current owner's random token.

The key is ``sergeant:lock:<name>`` on the node chosen by rendezvous hashing.
Expiry is the server's own key TTL, so client clocks never matter. Releasing
and extending are Lua scripts that compare the token first: an expired lock
taken by someone else is not this holder's to delete or extend. The acquire
loop, the argument checks and freeing a collected lock are
:class:`sergeant.connector.TokenLock`'s.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

from sergeant.connector import TokenLock

from sergeant_redis.node import Node
from sergeant_redis.scripts import LOCK_RELEASE, LOCK_SET_TTL

__all__ = ["LOCK_PREFIX", "RedisLock"]

LOCK_PREFIX = "sergeant:lock:"


def _release(node: Callable[[], Node], key: str, token: str) -> bool:
    """Free the lock at ``key`` if ``token`` still holds it."""
    return bool(node().script(LOCK_RELEASE, (key,), token) == 1)


class RedisLock(TokenLock):
    """A named lock with an owner token per acquisition."""

    def __init__(self, name: str, node: Callable[[], Node]) -> None:
        super().__init__(name)
        self.key = LOCK_PREFIX + name
        self._node = node

    def try_acquire(self, token: str, seconds: int) -> bool:
        return bool(self._node().execute("SET", self.key, token, "NX", "EX", seconds))

    def extend(self, token: str, seconds: int) -> bool:
        return bool(self._node().script(LOCK_SET_TTL, (self.key,), token, seconds) == 1)

    def seconds_left(self) -> int | None:
        milliseconds = int(self._node().execute("PTTL", self.key))
        return math.ceil(milliseconds / 1000) if milliseconds >= 0 else None

    def token_releaser(self) -> Callable[[str], bool]:
        return functools.partial(_release, self._node, self.key)
