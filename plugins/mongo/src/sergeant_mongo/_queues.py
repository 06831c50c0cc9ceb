"""One queue on one node: its documents in the node's ``queues`` collection.

One document per item: ``q`` queue name, ``p`` priority rank (0 HIGH, 1 NORMAL),
``at`` epoch seconds on the server's clock from which it may be handed out,
``n`` deliveries so far, ``item`` the bytes, and ``r`` the claim token while
reserved. A reserved item's
``at`` is the end of its lease, so an expired lease is simply ready again: pops
and reserves reclaim it with no extra step. Every pop and reserve walks the
``(q, p, at, _id)`` index in order; ``_id`` is the client-made ObjectId, which
keeps push order within one ``at``. A receipt is ``node.token.id``.

Taking one item is one atomic ``find_one_and_*``. Taking more needs no
transaction: find candidate ids, then claim them with one ``update_many`` that
re-checks each document is still ready and stamps a fresh random token; only
documents carrying our token are ours, and a claim another consumer cut short
takes one more round.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import attrs
from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.collection import Collection
from sergeant.connector import Delivery

from sergeant_mongo._clock import READY_SLACK

__all__ = ["Queue", "group_receipts"]

T = TypeVar("T")
Document = dict[str, Any]

RANK = {"HIGH": 0, "NORMAL": 1}
#: Items per ``insert_many`` (the driver splits further only past 48 MB).
CHUNK = 10_000
#: How long a bulk pop's claim hides items if the popper dies before deleting them.
POP_CLAIM_SECONDS = 60.0
#: Claim rounds under contention before a bulk call returns what it has.
MAX_ROUNDS = 32
_ORDER = [("p", 1), ("at", 1), ("_id", 1)]
#: Receipts as handed out, and only so: no zero-padding, other digits or upper-case hex.
_RECEIPT = re.compile(r"(0|[1-9][0-9]{0,8})\.([0-9a-f]{24})\.([0-9a-f]{24})")

#: Claimed ids by claim token.
Claims = dict[str, list[ObjectId]]


def group_receipts(receipts: Iterable[str], nodes: int) -> dict[int, Claims]:
    """Receipts by node and token; malformed or foreign ones match nothing and are dropped."""
    grouped: dict[int, Claims] = {}
    for receipt in receipts:
        found = _RECEIPT.fullmatch(receipt)
        if found is not None and int(found[1]) < nodes:
            claims = grouped.setdefault(int(found[1]), {})
            claims.setdefault(found[2], []).append(ObjectId(found[3]))
    return grouped


@attrs.frozen(slots=True)
class Queue:
    """Queue ``name`` in collection ``col`` of node number ``node``, whose server's
    time is ``now()`` (:mod:`sergeant_mongo._clock`)."""

    col: Collection[Document]
    name: str
    node: int
    now: Callable[[], float]

    def _ready(self, now: float) -> Document:
        return {"q": self.name, "at": {"$lte": now}}

    def _delivery(self, doc: Document, token: str) -> Delivery:
        receipt = f"{self.node}.{token}.{doc['_id']}"
        return Delivery(item=bytes(doc["item"]), receipt=receipt, deliveries=int(doc["n"]))

    def _ready_at(self, now: float, consumable_from: float | None) -> float:
        """When an item is ready on the server's clock: ``consumable_from``, a date on
        this client's wall clock, means the delay it is from now here (never clamped);
        no date means now, less :data:`~sergeant_mongo._clock.READY_SLACK`."""
        if consumable_from is None:
            return now - READY_SLACK
        return now + (consumable_from - time.time())

    def ready_at(self, consumable_from: float | None) -> float:
        """When an item pushed now with ``consumable_from`` is ready, on the server's clock."""
        return self._ready_at(self.now(), consumable_from)

    def push(self, items: Sequence[bytes], priority: str, at: float) -> None:
        """Insert ``items`` in order, ready at ``at`` (:meth:`ready_at`), in one
        ordered ``insert_many``."""
        docs = [
            {"q": self.name, "p": RANK[priority], "at": at, "n": 0, "item": item} for item in items
        ]
        self.col.insert_many(docs, ordered=True)

    def pop(self, want: int) -> list[bytes]:
        """Remove up to ``want`` ready items, in order (bulk: find, claim, delete)."""
        if want == 1:
            doc = self.col.find_one_and_delete(
                self._ready(self.now()), sort=_ORDER, projection={"item": 1, "_id": 0}
            )
            return [] if doc is None else [bytes(doc["item"])]

        def delete(found: list[Document], token: str, complete: bool) -> list[bytes]:
            if not complete:
                query = {"_id": {"$in": [doc["_id"] for doc in found]}, "r": token}
                mine = {doc["_id"] for doc in self.col.find(query, {"_id": 1})}
                found = [doc for doc in found if doc["_id"] in mine]
            if found:
                self.col.delete_many({"_id": {"$in": [doc["_id"] for doc in found]}, "r": token})
            return [bytes(doc["item"]) for doc in found]

        return self._claim(want, POP_CLAIM_SECONDS, {"item": 1}, {}, delete)

    def reserve(self, want: int, lease: float) -> list[Delivery]:
        """Lease up to ``want`` ready items, in order (bulk: find ids, claim, read them)."""
        if want == 1:
            now, token = self.now(), secrets.token_hex(12)
            doc = self.col.find_one_and_update(
                self._ready(now),
                {"$set": {"at": now + lease, "r": token}, "$inc": {"n": 1}},
                sort=_ORDER,
                projection={"item": 1, "n": 1},
                return_document=ReturnDocument.AFTER,
            )
            return [] if doc is None else [self._delivery(doc, token)]

        def read(found: list[Document], token: str, complete: bool) -> list[Delivery]:
            position = {doc["_id"]: i for i, doc in enumerate(found)}
            query = {"_id": {"$in": list(position)}, "r": token}
            claimed = sorted(
                self.col.find(query, {"item": 1, "n": 1}), key=lambda d: position[d["_id"]]
            )
            return [self._delivery(doc, token) for doc in claimed]

        return self._claim(want, lease, {"_id": 1}, {"$inc": {"n": 1}}, read)

    def _claim(
        self,
        want: int,
        hold: float,
        projection: Document,
        update: Document,
        settle: Callable[[list[Document], str, bool], list[T]],
    ) -> list[T]:
        """Rounds of: find up to ``want`` candidates, claim them for ``hold`` seconds under
        a fresh token, and ``settle(candidates, token, all_claimed)``."""
        out: list[T] = []
        for _ in range(MAX_ROUNDS):
            now = self.now()
            ready = self._ready(now)
            found = list(self.col.find(ready, projection, sort=_ORDER, limit=want - len(out)))
            if not found:
                break
            token = secrets.token_hex(12)
            claim = {"$set": {"at": now + hold, "r": token}, **update}
            ids = [doc["_id"] for doc in found]
            complete = self.col.update_many(
                {"_id": {"$in": ids}, **ready}, claim
            ).modified_count == len(found)
            out.extend(settle(found, token, complete))
            if complete or len(out) >= want:
                break
        return out

    def peek(self, want: int) -> list[bytes]:
        """Up to ``want`` ready items in hand-out order, left as they are."""
        found = self.col.find(self._ready(self.now()), {"item": 1}, sort=_ORDER, limit=want)
        return [bytes(doc["item"]) for doc in found]

    def _leased(self, claims: Claims, now: float) -> Document:
        match = [{"r": token, "_id": {"$in": ids}} for token, ids in claims.items()]
        return {
            "q": self.name,
            "at": {"$gt": now},
            **(match[0] if len(match) == 1 else {"$or": match}),
        }

    def ack(self, claims: Claims) -> int:
        """Delete items whose lease under these claims is still live."""
        return self.col.delete_many(self._leased(claims, self.now())).deleted_count

    def release(self, claims: Claims, consumable_from: float | None) -> int:
        """Put leased items back, ready at ``consumable_from`` (else now)."""
        now = self.now()
        back = {
            "$set": {"at": self._ready_at(now, consumable_from)},
            "$unset": {"r": ""},
        }
        return self.col.update_many(self._leased(claims, now), back).modified_count

    def extend(self, claims: Claims, lease: float) -> int:
        """Renew live leases to ``lease`` seconds from now."""
        now = self.now()
        renew = {"$set": {"at": now + lease}}
        return self.col.update_many(self._leased(claims, now), renew).matched_count

    def count(self, include_delayed: bool) -> int:
        """Ready items (expired leases included); with ``include_delayed``, delayed ones too."""
        now = self.now()
        unleased = {"q": self.name, "$or": [{"at": {"$lte": now}}, {"r": {"$exists": False}}]}
        return self.col.count_documents(unleased if include_delayed else self._ready(now))

    def stats(self) -> tuple[int, int, int]:
        """(ready, delayed, in flight) in one aggregation."""
        now = self.now()
        leased = {"$and": [{"$gt": ["$at", now]}, {"$ne": [{"$type": "$r"}, "missing"]}]}
        group = {
            "_id": None,
            "total": {"$sum": 1},
            "ready": {"$sum": {"$cond": [{"$lte": ["$at", now]}, 1, 0]}},
            "in_flight": {"$sum": {"$cond": [leased, 1, 0]}},
        }
        for row in self.col.aggregate([{"$match": {"q": self.name}}, {"$group": group}]):
            ready, in_flight = int(row["ready"]), int(row["in_flight"])
            return ready, int(row["total"]) - ready - in_flight, in_flight
        return 0, 0, 0

    def delete(self) -> bool:
        """Remove every item of the queue, reserved ones included."""
        return self.col.delete_many({"q": self.name}).deleted_count > 0
