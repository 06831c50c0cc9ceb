"""Named locks in a node's ``locks`` collection, one owner token per acquisition.

A lock document is ``{_id: name, name: name, t: token, exp: expiry}``. Taking it is one
upsert whose filter matches only an expired document: when a live one exists
the upsert's insert collides on ``_id`` and the lock is held by someone else.
A TTL index on ``exp`` removes old documents eventually; every read also checks
``exp`` because the TTL monitor runs only about once a minute. The acquire loop,
the argument checks and freeing a collected lock are
:class:`sergeant.connector.TokenLock`'s.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable
from typing import Any

from pymongo.errors import DuplicateKeyError
from sergeant.connector import TokenLock

from sergeant_mongo._node import Collections

__all__ = ["MongoLock"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


Run = Callable[[Callable[[Collections], Any]], Any]


def _release(run: Run, name: str, token: str) -> bool:
    """Free lock ``name`` if ``token`` still holds it (and it has not expired)."""
    deleted: int = run(
        lambda cols: (
            cols.locks.delete_one({"_id": name, "t": token, "exp": {"$gt": _now()}}).deleted_count
        )
    )
    return deleted == 1


class MongoLock(TokenLock):
    """A lock on the node its name hashes to, shared by every process using that node."""

    def __init__(self, name: str, run: Run) -> None:
        super().__init__(name)
        self._run = run

    def try_acquire(self, token: str, seconds: int) -> bool:
        def take(cols: Collections) -> bool:
            now = _now()
            try:
                cols.locks.update_one(
                    {"_id": self.name, "exp": {"$lte": now}},
                    # "name" too: Sergeant 0.27.0 made locks.name a unique index in the
                    # same default database; one document per name keeps it satisfied.
                    {
                        "$set": {
                            "name": self.name,
                            "t": token,
                            "exp": now + dt.timedelta(seconds=seconds),
                        }
                    },
                    upsert=True,
                )
            except DuplicateKeyError:
                return False
            return True

        taken: bool = self._run(take)
        return taken

    def extend(self, token: str, seconds: int) -> bool:
        def renew(cols: Collections) -> bool:
            now = _now()
            result = cols.locks.update_one(
                {"_id": self.name, "t": token, "exp": {"$gt": now}},
                {"$set": {"exp": now + dt.timedelta(seconds=seconds)}},
            )
            return result.matched_count == 1

        renewed: bool = self._run(renew)
        return renewed

    def seconds_left(self) -> int | None:
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

    def token_releaser(self) -> Callable[[str], bool]:
        return functools.partial(_release, self._run, self.name)
