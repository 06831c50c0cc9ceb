"""Named locks in the ``sergeant_locks`` table, each acquisition with its own owner token.

The acquire loop, the argument checks and freeing a collected lock are
:class:`sergeant.connector.TokenLock`'s; this module holds the SQL.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable

from sergeant.connector import TokenLock

from sergeant_local import schema
from sergeant_local._database import Database

__all__ = ["LocalLock"]


def _release(database: Database, name: str, token: str) -> bool:
    """Free lock ``name`` if ``token`` still holds it."""
    return database.changes(schema.LOCK_RELEASE, (name, token, time.time())) == 1


class LocalLock(TokenLock):
    """A lock shared by every process using the same file."""

    def __init__(self, database: Database, name: str) -> None:
        super().__init__(name)
        self._database = database

    def try_acquire(self, token: str, seconds: int) -> bool:
        now = time.time()
        return bool(
            self._database.rows(schema.LOCK_ACQUIRE, (self.name, token, now + seconds, now))
        )

    def extend(self, token: str, seconds: int) -> bool:
        now = time.time()
        return (
            self._database.changes(schema.LOCK_SET_TTL, (now + seconds, self.name, token, now)) == 1
        )

    def seconds_left(self) -> int | None:
        now = time.time()
        found = self._database.rows(schema.LOCK_GET_EXPIRY, (self.name, now))
        return max(1, math.ceil(found[0][0] - now)) if found else None

    def token_releaser(self) -> Callable[[str], bool]:
        return functools.partial(_release, self._database, self.name)
