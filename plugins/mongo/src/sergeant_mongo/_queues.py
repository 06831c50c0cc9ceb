"""Queue operations on one node's ``queues`` collection.

One document per item: ``q`` queue name, ``p`` priority rank (0 HIGH, 1 NORMAL),
``at`` epoch seconds from which it may be handed out, ``n`` deliveries so far,
``item`` the bytes, and ``r`` the claim token while reserved. A reserved item's
``at`` is the end of its lease, so an expired lease is simply ready again: pops
and reserves reclaim it with no extra step. Every pop and reserve walks the
``(q, p, at, _id)`` index in order; ``_id`` is the client-made ObjectId, which
keeps push order within one ``at``.

Bulk claims need no transaction: find candidate ids, then claim them with one
``update_many`` that re-checks each document is still ready and stamps a fresh
random token; only documents carrying our token are ours.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.collection import Collection
from sergeant.connector import Delivery

__all__ = [
    "CHUNK",
    "RANK",
    "Receipt",
    "ack",
    "count",
    "delete",
    "extend",
    "find_one_and_lease",
    "names",
    "peek",
    "pop",
    "pop_many",
    "push",
    "release",
    "reserve",
    "stats",
]

Document = dict[str, Any]
Queues = Collection[Document]

RANK = {"HIGH": 0, "NORMAL": 1}
#: Items per ``insert_many`` (the driver splits further only past 48 MB).
CHUNK = 10_000
#: How long a bulk pop's claim hides items if the popper dies before deleting them.
POP_CLAIM_SECONDS = 60.0
#: Claim rounds under contention before a bulk call returns what it has.
MAX_ROUNDS = 32

_ORDER = [("p", 1), ("at", 1), ("_id", 1)]

Receipt = tuple[ObjectId, str]


def _ready(queue: str, now: float) -> Document:
    return {"q": queue, "at": {"$lte": now}}


def push(col: Queues, queue: str, items: Sequence[bytes], rank: int, at: float) -> None:
    """Insert ``items`` in order, one ``insert_many`` per :data:`CHUNK`."""
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        col.insert_many(
            [{"q": queue, "p": rank, "at": at, "n": 0, "item": item} for item in chunk],
            ordered=True,
        )


def pop(col: Queues, queue: str) -> bytes | None:
    """Remove and return the next ready item: one ``find_one_and_delete``."""
    doc = col.find_one_and_delete(
        _ready(queue, time.time()), sort=_ORDER, projection={"item": 1, "_id": 0}
    )
    return None if doc is None else bytes(doc["item"])


def peek(col: Queues, queue: str, want: int) -> list[bytes]:
    """Up to ``want`` ready items in hand-out order, left as they are: one ``find``."""
    found = col.find(_ready(queue, time.time()), {"item": 1, "_id": 0}, sort=_ORDER, limit=want)
    return [bytes(doc["item"]) for doc in found]


def _claim(
    col: Queues, queue: str, want: int, now: float, until: float, *, count_delivery: bool
) -> tuple[list[Document], str, bool]:
    """Claim up to ``want`` ready items; returns (candidates, token, all_claimed)."""
    projection = {"_id": 1} if count_delivery else {"item": 1}
    found = list(col.find(_ready(queue, now), projection, sort=_ORDER, limit=want))
    if not found:
        return [], "", True
    token = secrets.token_hex(12)
    update: Document = {"$set": {"at": until, "r": token}}
    if count_delivery:
        update["$inc"] = {"n": 1}
    ids = [doc["_id"] for doc in found]
    result = col.update_many({"_id": {"$in": ids}, **_ready(queue, now)}, update)
    return found, token, result.modified_count == len(found)


def pop_many(col: Queues, queue: str, want: int) -> list[bytes]:
    """Remove up to ``want`` ready items, in order, without a transaction.

    Uncontended: three commands (find, claim, delete).
    """
    out: list[bytes] = []
    for _ in range(MAX_ROUNDS):
        now = time.time()
        found, token, complete = _claim(
            col, queue, want - len(out), now, now + POP_CLAIM_SECONDS, count_delivery=False
        )
        if not found:
            break
        ids = [doc["_id"] for doc in found]
        if complete:
            ours = found
        else:
            mine = {d["_id"] for d in col.find({"_id": {"$in": ids}, "r": token}, {"_id": 1})}
            ours = [doc for doc in found if doc["_id"] in mine]
        if ours:
            col.delete_many({"_id": {"$in": [d["_id"] for d in ours]}, "r": token})
            out.extend(bytes(doc["item"]) for doc in ours)
        if complete or len(out) >= want:
            break
    return out


def reserve(col: Queues, queue: str, want: int, lease: float, node: int) -> list[Delivery]:
    """Lease up to ``want`` ready items, in order, without a transaction.

    Uncontended: three commands (find ids, claim, read the claimed items).
    """
    out: list[Delivery] = []
    for _ in range(MAX_ROUNDS):
        now = time.time()
        found, token, complete = _claim(
            col, queue, want - len(out), now, now + lease, count_delivery=True
        )
        if not found:
            break
        position = {doc["_id"]: i for i, doc in enumerate(found)}
        claimed = sorted(
            col.find({"_id": {"$in": list(position)}, "r": token}, {"item": 1, "n": 1}),
            key=lambda doc: position[doc["_id"]],
        )
        out.extend(
            Delivery(
                item=bytes(doc["item"]),
                receipt=f"{node}.{token}.{doc['_id']}",
                deliveries=int(doc["n"]),
            )
            for doc in claimed
        )
        if complete or len(out) >= want:
            break
    return out


def _leased(queue: str, receipts: Sequence[Receipt], now: float) -> Document:
    by_token: dict[str, list[ObjectId]] = {}
    for oid, token in receipts:
        by_token.setdefault(token, []).append(oid)
    clauses = [{"r": token, "_id": {"$in": ids}} for token, ids in by_token.items()]
    match = clauses[0] if len(clauses) == 1 else {"$or": clauses}
    return {"q": queue, "at": {"$gt": now}, **match}


def ack(col: Queues, queue: str, receipts: Sequence[Receipt]) -> int:
    """Delete items whose lease under these receipts is still live: one ``delete_many``."""
    return col.delete_many(_leased(queue, receipts, time.time())).deleted_count


def release(
    col: Queues, queue: str, receipts: Sequence[Receipt], consumable_from: float | None
) -> int:
    """Put leased items back, visible from ``consumable_from`` (or now)."""
    now = time.time()
    at = now if consumable_from is None else consumable_from
    result = col.update_many(
        _leased(queue, receipts, now), {"$set": {"at": at}, "$unset": {"r": ""}}
    )
    return result.modified_count


def extend(col: Queues, queue: str, receipts: Sequence[Receipt], lease: float) -> int:
    """Renew live leases to ``lease`` seconds from now."""
    now = time.time()
    result = col.update_many(_leased(queue, receipts, now), {"$set": {"at": now + lease}})
    return result.matched_count


def count(col: Queues, queue: str, include_delayed: bool) -> int:
    """Ready items (expired leases included); with ``include_delayed``, delayed ones too."""
    now = time.time()
    if include_delayed:
        return col.count_documents(
            {"q": queue, "$or": [{"at": {"$lte": now}}, {"r": {"$exists": False}}]}
        )
    return col.count_documents(_ready(queue, now))


def stats(col: Queues, queue: str) -> tuple[int, int, int]:
    """(ready, delayed, in flight) in one aggregation."""
    now = time.time()
    leased = {"$and": [{"$gt": ["$at", now]}, {"$ne": [{"$type": "$r"}, "missing"]}]}
    pipeline: list[Document] = [
        {"$match": {"q": queue}},
        {
            "$group": {
                "_id": None,
                "total": {"$sum": 1},
                "ready": {"$sum": {"$cond": [{"$lte": ["$at", now]}, 1, 0]}},
                "in_flight": {"$sum": {"$cond": [leased, 1, 0]}},
            }
        },
    ]
    rows = list(col.aggregate(pipeline))
    if not rows:
        return 0, 0, 0
    row = rows[0]
    ready, in_flight = int(row["ready"]), int(row["in_flight"])
    return ready, int(row["total"]) - ready - in_flight, in_flight


def delete(col: Queues, queue: str) -> bool:
    """Remove every item of the queue, reserved ones included."""
    return col.delete_many({"q": queue}).deleted_count > 0


def find_one_and_lease(col: Queues, queue: str, lease: float, node: int) -> Delivery | None:
    """Lease the next ready item with one ``find_one_and_update`` (reserve of one)."""
    now = time.time()
    token = secrets.token_hex(12)
    doc = col.find_one_and_update(
        _ready(queue, now),
        {"$set": {"at": now + lease, "r": token}, "$inc": {"n": 1}},
        sort=_ORDER,
        projection={"item": 1, "n": 1},
        return_document=ReturnDocument.AFTER,
    )
    if doc is None:
        return None
    return Delivery(
        item=bytes(doc["item"]), receipt=f"{node}.{token}.{doc['_id']}", deliveries=int(doc["n"])
    )


def names(queues: Queues) -> list[str]:
    """Every queue with a document (ready, delayed or reserved item) on this node."""
    return [name for name in queues.distinct("q") if isinstance(name, str)]
