"""The ``mongo`` connector: queues, leases, keys and locks on MongoDB nodes.

Nodes are independent servers, not a cluster, spread the way the Redis backend
spreads them, with the same machinery (:mod:`sergeant.nodes`): pushes rotate
across nodes, pops and reserves visit every node before saying empty, keys and
locks live on the node their name hashes to. A node that is down is skipped and
tried again after a back-off; only keys and locks that hash to it fail, with a
clear error. Receipts carry the index of the node that issued them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any, ClassVar, TypeVar

from pymongo.errors import DuplicateKeyError
from sergeant.connector import (
    BASIC,
    PEEK,
    Batch,
    Connector,
    Lock,
    NodeStats,
    Priority,
    Receipts,
    push_in_chunks,
)
from sergeant.errors import AuthenticationError, ConnectorUnavailableError
from sergeant.nodes import Rotation, gather, node_names, rendezvous, visit
from sergeant.validation import build_params

from sergeant_mongo._lock import MongoLock
from sergeant_mongo._node import Db, Node
from sergeant_mongo._params import MongoParams
from sergeant_mongo._queues import CHUNK, Claims, Queue, group_receipts

__all__ = ["MongoConnector"]

T = TypeVar("T")

#: MongoDB documents are at most 16 MiB; an item leaves room for its other fields.
MAX_ITEM_BYTES = 16 * 1024 * 1024 - 16 * 1024


def _unreachable(failures: list[ConnectorUnavailableError]) -> ConnectorUnavailableError:
    """The error when no node answered: a refusal of the credentials, if any, else all failures."""
    for exc in failures:
        if isinstance(exc, AuthenticationError):
            return exc
    reasons = "; ".join(str(exc) for exc in failures)
    return ConnectorUnavailableError(f"no mongo node could be reached: {reasons}")


class MongoConnector(Connector):
    """Sergeant's ``mongo`` connector; see :class:`~sergeant_mongo._params.MongoParams`.

    Construction validates the params and sets every reachable node up (replica-set
    initiation where asked, indexes); it fails if no node can be reached.
    """

    type_name: ClassVar[str] = "mongo"
    capabilities: ClassVar[frozenset[str]] = BASIC | {PEEK}
    max_item_bytes: ClassVar[int | None] = MAX_ITEM_BYTES

    def __init__(self, **params: Any) -> None:
        self.params = build_params(MongoParams, params, where="connector 'mongo' params")
        options = self._client_options()
        self._nodes = [Node(index, self.params, options) for index in range(len(self.params.nodes))]
        self._names = node_names([node.name for node in self.params.nodes])
        self._turns = Rotation(self._nodes)
        try:
            gather(self._nodes, lambda node: node.run(lambda db: None), error=_unreachable)
        except ConnectorUnavailableError:
            self.close()
            raise

    def _client_options(self) -> Mapping[str, Any]:
        """Extra ``MongoClient`` keyword arguments for every node (tests, instrumentation)."""
        return {}

    def __repr__(self) -> str:
        labels = ", ".join(node.label for node in self._nodes)
        return f"MongoConnector(nodes=[{labels}], database={self.params.database!r})"

    # Node selection -------------------------------------------------------

    def _on(self, queue_name: str, call: Callable[[Queue], T]) -> Callable[[Node], T]:
        """``call`` on queue ``queue_name`` of a node, for :mod:`sergeant.nodes` to run."""
        return lambda node: node.run(
            lambda db: call(Queue(db.queues, queue_name, node.index, partial(node.clock.now, db)))
        )

    def _fill(self, queue_name: str, count: int, take: Callable[[Queue, int], list[T]]) -> list[T]:
        """Up to ``count`` results of ``take(queue, still_wanted)``, node by node from the
        next in turn (:func:`sergeant.nodes.visit`) until there are enough."""
        out: list[T] = []
        call = self._on(queue_name, lambda queue: take(queue, count - len(out)))
        for _, got in visit(self._turns.order(), call, error=_unreachable):
            out.extend(got)
            if len(out) >= count:
                break
        return out

    def _gather(self, call: Callable[[Node], T]) -> list[T]:
        """``call``'s result on every node that answers (:func:`sergeant.nodes.gather`)."""
        found = gather(self._turns.order(), call, error=_unreachable, skip_down=True)
        return [result for _, result in found]

    def _owner(self, name: str) -> Node:
        """The node that holds key or lock ``name`` (:func:`sergeant.nodes.rendezvous`)."""
        return self._nodes[rendezvous(self._names, name)]

    def _settle(
        self, queue_name: str, receipts: Receipts, operation: Callable[[Queue, Claims], int]
    ) -> int:
        """``operation`` on each node the receipts name, with that node's claims; the sum
        (:func:`sergeant.nodes.gather`: nodes that cannot answer left out if one does)."""
        grouped = group_receipts(receipts, len(self._nodes))
        if not grouped:
            return 0
        call = self._on(queue_name, lambda queue: operation(queue, grouped[queue.node]))
        found = gather([self._nodes[index] for index in grouped], call, error=_unreachable)
        return sum(count for _, count in found)

    # Queues ----------------------------------------------------------------

    def do_push(
        self, queue_name: str, items: list[bytes], priority: Priority, consumable_from: float | None
    ) -> None:
        order = self._turns.order()
        # One ready time per node for the whole push: its slices keep their order.
        ready_at: dict[int, float] = {}

        def push(queue: Queue, chunk: list[bytes]) -> None:
            if queue.node not in ready_at:
                ready_at[queue.node] = queue.ready_at(consumable_from)
            queue.push(chunk, priority, ready_at[queue.node])

        push_in_chunks(
            items,
            CHUNK,
            lambda chunk: next(
                visit(order, self._on(queue_name, partial(push, chunk=chunk)), error=_unreachable)
            ),
        )

    def do_pop(self, queue_name: str, count: int) -> list[bytes]:
        return self._fill(queue_name, count, Queue.pop)

    def do_peek(self, queue_name: str, count: int) -> list[bytes]:
        """Node by node in the order a reserve visits them, each node's HIGH before NORMAL."""
        return self._fill(queue_name, count, Queue.peek)

    def do_length(self, queue_name: str, include_delayed: bool) -> int:
        return sum(self._gather(self._on(queue_name, lambda q: q.count(include_delayed))))

    def do_delete(self, queue_name: str) -> bool:
        return any(self._gather(self._on(queue_name, Queue.delete)))

    # Reliable delivery -----------------------------------------------------

    def do_reserve(self, queue_name: str, count: int, lease_seconds: float) -> Batch:
        """No handle: receipts name their node and claim token, so acking a batch is
        one ``delete_many`` per node however it arrives."""
        return Batch(self._fill(queue_name, count, lambda q, n: q.reserve(n, lease_seconds)))

    def do_ack(self, queue_name: str, receipts: Receipts) -> int:
        return self._settle(queue_name, receipts, Queue.ack)

    def do_release(self, queue_name: str, receipts: Receipts, consumable_from: float | None) -> int:
        return self._settle(
            queue_name, receipts, lambda q, claims: q.release(claims, consumable_from)
        )

    def do_extend(self, queue_name: str, receipts: Receipts, lease_seconds: float) -> int:
        return self._settle(queue_name, receipts, lambda q, claims: q.extend(claims, lease_seconds))

    def do_stats(self, queue_name: str) -> list[NodeStats]:
        def row(queue: Queue) -> NodeStats:
            return NodeStats(self._nodes[queue.node].label, *queue.stats())

        return self._gather(self._on(queue_name, row))

    def do_queue_names(self) -> Iterable[str]:
        """``distinct`` of the indexed queue field on every reachable node."""
        found = self._gather(lambda node: node.run(lambda db: db.queues.distinct("q")))
        return (name for names in found for name in names if isinstance(name, str))

    # Keys and locks ---------------------------------------------------------

    def do_key_set(self, key: str, value: bytes) -> bool:
        """One upsert; True when the key was new."""

        def upsert(db: Db) -> bool:
            try:
                result = db.keys.update_one({"_id": key}, {"$set": {"v": value}}, upsert=True)
            except DuplicateKeyError:  # a concurrent upsert inserted it first: overwrite
                db.keys.update_one({"_id": key}, {"$set": {"v": value}})
                return False
            return result.upserted_id is not None

        return self._owner(key).run(upsert)

    def do_key_get(self, key: str) -> bytes | None:
        doc = self._owner(key).run(lambda db: db.keys.find_one({"_id": key}))
        return None if doc is None else bytes(doc["v"])

    def do_key_delete(self, key: str) -> bool:
        return self._owner(key).run(lambda db: db.keys.delete_one({"_id": key}).deleted_count == 1)

    def do_lock(self, name: str) -> Lock:
        return MongoLock(name, self._owner(name))

    def close(self) -> None:
        """Close every node's client. Calling it twice is harmless."""
        for node in self._nodes:
            node.close()
