"""Named locks in the ``sergeant_locks`` table, each acquisition with its own owner token."""

from __future__ import annotations

import functools
import math
import secrets
import time
from typing import Any

from sergeant.connector import CollectedRelease, Lock, release_when_collected, settle_collected
from sergeant.errors import ConfigError
from sergeant.validation import check_positive, check_set_ttl, check_ttl

from sergeant_local import schema
from sergeant_local._database import Database

__all__ = ["LocalLock"]


def _check_timeout(timeout: Any) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout >= 0:
        raise ConfigError("timeout", timeout, "expected seconds (a number >= 0) or None")
    return float(timeout)


def _release(database: Database, name: str, token: str) -> bool:
    """Free lock ``name`` if ``token`` still holds it."""
    return database.changes(schema.LOCK_RELEASE, (name, token, time.time())) == 1


class LocalLock(Lock):
    """A lock shared by every process using the same file.

    ``acquire`` writes a fresh random token; ``release`` and ``set_ttl`` match on
    it, so once the lock expired and someone else took it, they do nothing. An
    object collected while it holds the lock frees it (owner-checked, see
    :func:`sergeant.connector.release_when_collected`).
    """

    def __init__(self, database: Database, name: str) -> None:
        settle_collected()
        self.name = name
        self._database = database
        self._token: str | None = None
        self._collected: CollectedRelease | None = None

    def _hold(self, token: str | None) -> None:
        if self._collected is not None:
            self._collected.detach()
            self._collected = None
        self._token = token
        if token is not None:
            self._collected = release_when_collected(
                self, functools.partial(_release, self._database, self.name, token)
            )

    def __repr__(self) -> str:
        return f"LocalLock(name={self.name!r}, held={self._token is not None})"

    def acquire(
        self, timeout: float | None = None, check_interval: float = 1.0, ttl: int = 60
    ) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds (None: until taken)."""
        settle_collected()
        seconds = check_ttl(ttl)
        wait = _check_timeout(timeout)
        interval = check_positive("check_interval", check_interval)
        deadline = None if wait is None else time.monotonic() + wait
        token = secrets.token_hex(16)
        while True:
            now = time.time()
            taken = self._database.rows(schema.LOCK_ACQUIRE, (self.name, token, now + seconds, now))
            if taken:
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
        """Free the lock if this acquisition still owns it."""
        token = self._token
        if token is None:
            return False
        freed = _release(self._database, self.name, token)
        self._hold(None)
        return freed

    def is_locked(self) -> bool:
        """True while anyone holds the lock and its time has not run out."""
        settle_collected()
        return bool(self._database.rows(schema.LOCK_IS_LOCKED, (self.name, time.time())))

    def set_ttl(self, ttl: int) -> bool:
        """Reset the time to live if this acquisition still owns the lock (0: free it)."""
        seconds = check_set_ttl(ttl)
        if seconds == 0:
            return self.release()
        if self._token is None:
            return False
        now = time.time()
        changed = self._database.changes(
            schema.LOCK_SET_TTL, (now + seconds, self.name, self._token, now)
        )
        return changed == 1

    def get_ttl(self) -> int | None:
        """Whole seconds left (rounded up), or None when nobody holds the lock."""
        now = time.time()
        found = self._database.rows(schema.LOCK_GET_EXPIRY, (self.name, now))
        if not found:
            return None
        expires_at: float = found[0][0]
        return max(1, math.ceil(expires_at - now))
