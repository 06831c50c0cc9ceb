"""Named locks in a node's ``locks`` collection, one owner token per acquisition.

A lock document is ``{_id: name, name: name, t: token, exp: expiry}``, the expiry
on the server's clock (:mod:`sergeant_mongo._clock`). Taking it is one
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

from pymongo.errors import DuplicateKeyError
from sergeant.connector import TokenLock

from sergeant_mongo._node import Db, Node

__all__ = ["MongoLock"]


def _now(node: Node, db: Db) -> dt.datetime:
    """The time on ``node``'s server clock (:mod:`sergeant_mongo._clock`)."""
    return dt.datetime.fromtimestamp(node.clock.now(db), dt.UTC)


def _release(node: Node, name: str, token: str) -> bool:
    """Free lock ``name`` if ``token`` still holds it (and it has not expired)."""

    def free(db: Db) -> bool:
        held = {"_id": name, "t": token, "exp": {"$gt": _now(node, db)}}
        return db.locks.delete_one(held).deleted_count == 1

    return node.run(free)


class MongoLock(TokenLock):
    """A lock on ``node`` (the one its name hashes to), shared by every process using it."""

    def __init__(self, name: str, node: Node) -> None:
        super().__init__(name)
        self._node = node

    def try_acquire(self, token: str, seconds: int) -> bool:
        def take(db: Db) -> bool:
            now = _now(self._node, db)
            # "name" too: Sergeant 0.27.0 made locks.name a unique index in the
            # same default database; one document per name keeps it satisfied.
            hold = {"name": self.name, "t": token, "exp": now + dt.timedelta(seconds=seconds)}
            try:
                db.locks.update_one(
                    {"_id": self.name, "exp": {"$lte": now}}, {"$set": hold}, upsert=True
                )
            except DuplicateKeyError:
                return False
            return True

        return self._node.run(take)

    def extend(self, token: str, seconds: int) -> bool:
        def renew(db: Db) -> bool:
            now = _now(self._node, db)
            held = {"_id": self.name, "t": token, "exp": {"$gt": now}}
            until = {"$set": {"exp": now + dt.timedelta(seconds=seconds)}}
            return db.locks.update_one(held, until).matched_count == 1

        return self._node.run(renew)

    def seconds_left(self) -> int | None:
        def left(db: Db) -> int | None:
            now = _now(self._node, db)
            found = db.locks.find_one({"_id": self.name, "exp": {"$gt": now}}, {"exp": 1})
            if found is None:
                return None
            expiry: dt.datetime = found["exp"]
            return max(1, math.ceil((expiry - now).total_seconds()))

        return self._node.run(left)

    def token_releaser(self) -> Callable[[str], bool]:
        return functools.partial(_release, self._node, self.name)
