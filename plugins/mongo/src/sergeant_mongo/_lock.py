"""Named locks in a node's ``locks`` collection, one owner token per acquisition.

A lock document is ``{_id: name, t: token, exp: expiry}``. Taking it is one
upsert whose filter matches only an expired document: when a live one exists
the upsert's insert collides on ``_id`` and the lock is held by someone else.
A TTL index on ``exp`` removes old documents eventually; every read also checks
``exp`` because the TTL monitor runs only about once a minute.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pymongo.errors import DuplicateKeyError
from sergeant.connector import CollectedRelease, Lock, release_when_collected, settle_collected
from sergeant.errors import ConfigError
from sergeant.validation import check_positive, check_set_ttl, check_ttl

from sergeant_mongo._node import Collections

__all__ = ["MongoLock"]

T = TypeVar("T")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check_timeout(timeout: Any) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout >= 0:
        raise ConfigError("timeout", timeout, "expected seconds (a number >= 0) or None")
    return float(timeout)


Run = Callable[[Callable[[Collections], Any]], Any]


def _release(run: Run, name: str, token: str) -> bool:
    """Free lock ``name`` if ``token`` still holds it (and it has not expired)."""
    deleted: int = run(
        lambda cols: (
            cols.locks.delete_one({"_id": name, "t": token, "exp": {"$gt": _now()}}).deleted_count
        )
    )
    return deleted == 1


class MongoLock(Lock):
    """A lock on the node its name hashes to, shared by every process using that node.

    An object collected while it holds the lock frees it, owner-checked
    (:func:`sergeant.connector.release_when_collected`).
    """

    def __init__(self, name: str, run: Run) -> None:
        settle_collected()
        self.name = name
        self._run = run
        self._token: str | None = None
        self._collected: CollectedRelease | None = None

    def _hold(self, token: str | None) -> None:
        if self._collected is not None:
            self._collected.detach()
            self._collected = None
        self._token = token
        if token is not None:
            self._collected = release_when_collected(
                self, functools.partial(_release, self._run, self.name, token)
            )

    def __repr__(self) -> str:
        return f"MongoLock(name={self.name!r}, held={self._token is not None})"

    def _try_take(self, cols: Collections, token: str, seconds: int) -> bool:
        now = _now()
        try:
            cols.locks.update_one(
                {"_id": self.name, "exp": {"$lte": now}},
                {"$set": {"t": token, "exp": now + dt.timedelta(seconds=seconds)}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

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
            if self._run(lambda cols: self._try_take(cols, token, seconds)):
                self._hold(token)
                return True
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                time.sleep(min(interval, left))
            else:
                time.sleep(interval)

    def release(self) -> bool:
        """Free the lock if this acquisition still owns it (and it has not expired)."""
        token = self._token
        if token is None:
            return False
        freed = _release(self._run, self.name, token)
        self._hold(None)
        return freed

    def is_locked(self) -> bool:
        """True while a live (unexpired) holder has the lock."""
        settle_collected()
        found = self._run(
            lambda cols: cols.locks.find_one({"_id": self.name, "exp": {"$gt": _now()}}, {"_id": 1})
        )
        return found is not None

    def set_ttl(self, ttl: int) -> bool:
        """Reset the expiry to ``ttl`` seconds from now if this acquisition still owns it
        (0: free it now)."""
        seconds = check_set_ttl(ttl)
        if seconds == 0:
            return self.release()
        token = self._token
        if token is None:
            return False

        def renew(cols: Collections) -> bool:
            now = _now()
            result = cols.locks.update_one(
                {"_id": self.name, "t": token, "exp": {"$gt": now}},
                {"$set": {"exp": now + dt.timedelta(seconds=seconds)}},
            )
            return result.matched_count == 1

        renewed: bool = self._run(renew)
        return renewed

    def get_ttl(self) -> int | None:
        """Seconds left (rounded up), or None when nobody holds the lock."""
        now = _now()
        found = self._run(
            lambda cols: cols.locks.find_one({"_id": self.name, "exp": {"$gt": now}}, {"exp": 1})
        )
        if found is None:
            return None
        expiry: dt.datetime = found["exp"]
        if expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=dt.UTC)
        return max(1, math.ceil((expiry - now).total_seconds()))
