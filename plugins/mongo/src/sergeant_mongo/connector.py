"""The ``mongo`` connector: queues, leases, keys and locks on MongoDB nodes.

Nodes are independent servers, not a cluster, spread the way the Redis backend
spreads them: pushes rotate across nodes, pops and reserves visit every node
before saying empty, keys and locks live on the node their name hashes to
(rendezvous hashing over the nodes' names: ``name``, else the position in
``nodes``, as for redis). A node that is down is skipped and tried again after a
back-off; only keys and locks that hash to it fail, with a clear error. The
machinery is :mod:`sergeant.nodes`, shared with the redis backend.
Receipts carry the index of the node that issued them.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar, TypeVar

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.errors import DuplicateKeyError
from sergeant.connector import (
    BASIC,
    PEEK,
    Batch,
    Connector,
    Delivery,
    Lock,
    NodeStats,
    Priority,
    Receipts,
)
from sergeant.errors import AuthenticationError, ConnectorUnavailableError, StorageError
from sergeant.nodes import Rotation, gather, node_names, rendezvous, visit
from sergeant.validation import build_params

from sergeant_mongo import _queues
from sergeant_mongo._lock import MongoLock
from sergeant_mongo._node import Collections, Node, NodeSettings
from sergeant_mongo._params import MongoParams

__all__ = ["MongoConnector"]

T = TypeVar("T")


def _parse_receipts(receipts: Receipts, nodes: int) -> dict[int, list[_queues.Receipt]]:
    """Group valid receipts by node; malformed or foreign ones are ignored (they match nothing)."""
    grouped: dict[int, list[_queues.Receipt]] = {}
    for receipt in receipts:
        parts = receipt.split(".")
        # canonical spellings only (no "00", fullwidth digits or upper-case hex):
        # one receipt, one string
        if len(parts) != 3 or not parts[0].isascii() or not parts[0].isdigit():
            continue
        if int(parts[0]) >= nodes or (parts[0][0] == "0" and parts[0] != "0"):
            continue
        try:
            oid = ObjectId(parts[2])
        except (InvalidId, TypeError):
            continue
        if str(oid) != parts[2]:
            continue
        grouped.setdefault(int(parts[0]), []).append((oid, parts[1]))
    return grouped


class MongoConnector(Connector):
    """Sergeant's ``mongo`` connector; see :class:`~sergeant_mongo._params.MongoParams`.

    Construction validates the params and sets every reachable node up (replica-set
    initiation where asked, indexes); it fails if no node can be reached.
    """

    type_name: ClassVar[str] = "mongo"
    capabilities: ClassVar[frozenset[str]] = BASIC | {PEEK}

    def __init__(self, **params: Any) -> None:
        self.params = build_params(MongoParams, params, where="connector 'mongo' params")
        settings = NodeSettings(
            database=self.params.database,
            connect_timeout=self.params.connect_timeout,
            replica_set_timeout=self.params.replica_set_timeout,
            retry_down_after=self.params.retry_down_after,
            client_options=self._client_options(),
        )
        self._nodes = [Node(i, node, settings) for i, node in enumerate(self.params.nodes)]
        self._names = node_names([node.name for node in self.params.nodes])
        self._turns = Rotation(self._nodes)
        errors: list[ConnectorUnavailableError] = []
        for node in self._nodes:
            try:
                node.run(lambda cols: None)
            except ConnectorUnavailableError as exc:
                errors.append(exc)
        if len(errors) == len(self._nodes):
            self.close()
            refused = [e for e in errors if isinstance(e, AuthenticationError)]
            if refused:
                raise refused[0]
            raise ConnectorUnavailableError(
                "no mongo node could be reached: " + "; ".join(str(e) for e in errors)
            )

    def _client_options(self) -> Mapping[str, Any]:
        """Extra ``MongoClient`` keyword arguments for every node (tests, instrumentation)."""
        return {}

    def __repr__(self) -> str:
        labels = ", ".join(node.label for node in self._nodes)
        return f"MongoConnector(nodes=[{labels}], database={self.params.database!r})"

    # Node selection -------------------------------------------------------

    def _visit(self, operation: Callable[[Node, Collections], T]) -> Iterator[T]:
        """``operation``'s result on each node that answers, from the next in turn
        (:func:`sergeant.nodes.visit`: nodes in back-off last, and skipped once one
        answered; :class:`ConnectorUnavailableError` if none answers). The caller
        stops when it has enough."""
        order = self._turns.order()
        for _, result in visit(
            order, lambda node: node.run(functools.partial(operation, node)), error=self._all_down
        ):
            yield result

    def _first(self, operation: Callable[[Collections], T]) -> T:
        """Run ``operation`` on the first node that answers (pushes)."""
        return next(self._visit(lambda node, cols: operation(cols)))

    def _gather(self, operation: Callable[[Node, Collections], T]) -> list[T]:
        """``operation``'s result on every node that answers (nodes in back-off
        skipped once one answered: :func:`sergeant.nodes.gather`)."""
        order = self._turns.order()
        return [
            result
            for _, result in gather(
                order,
                lambda node: node.run(functools.partial(operation, node)),
                error=self._all_down,
                skip_down=True,
            )
        ]

    def _all_down(self, failures: list[ConnectorUnavailableError]) -> ConnectorUnavailableError:
        detail = "; ".join(str(e) for e in failures) or "no node"
        return ConnectorUnavailableError(f"no mongo node is reachable: {detail}")

    def _owner(self, name: str) -> Node:
        """The node that holds key or lock ``name``: rendezvous hashing over the
        nodes' names (``name``, else the position; never the host as spelled)."""
        return self._nodes[rendezvous(self._names, name)]

    # Queues ----------------------------------------------------------------

    def do_push(
        self, queue_name: str, items: list[bytes], priority: Priority, consumable_from: float | None
    ) -> None:
        """Insert ``items`` in order on one node, the next in rotation (``insert_many``)."""
        _check_sizes(items, "item" if len(items) == 1 else "items")
        rank = _queues.RANK[priority]

        def insert(cols: Collections) -> None:
            # the push time itself, never clamped: a clock stepping back must not hide items
            at = time.time() if consumable_from is None else consumable_from
            _queues.push(cols.queues, queue_name, items, rank, at)

        self._first(insert)

    def do_pop(self, queue_name: str, count: int) -> list[bytes]:
        """Remove up to ``count`` ready items, visiting every node until there are enough."""
        out: list[bytes] = []

        def take(node: Node, cols: Collections) -> None:
            left = count - len(out)
            if left == 1:
                one = _queues.pop(cols.queues, queue_name)
                out.extend(() if one is None else (one,))
            else:
                out.extend(_queues.pop_many(cols.queues, queue_name, left))

        for _ in self._visit(take):
            if len(out) >= count:
                break
        return out

    def do_peek(self, queue_name: str, count: int) -> list[bytes]:
        """Up to ``count`` ready items, left in place: node by node in the order a
        reserve visits them, each node's HIGH before NORMAL, then in push order."""
        out: list[bytes] = []

        def read(node: Node, cols: Collections) -> None:
            out.extend(_queues.peek(cols.queues, queue_name, count - len(out)))

        for _ in self._visit(read):
            if len(out) >= count:
                break
        return out

    def do_length(self, queue_name: str, include_delayed: bool) -> int:
        """Ready items on every reachable node; with ``include_delayed``, delayed ones too."""
        counts = self._gather(
            lambda node, cols: _queues.count(cols.queues, queue_name, include_delayed)
        )
        return sum(counts)

    def do_delete(self, queue_name: str) -> bool:
        """Remove the queue from every reachable node; True if any node had items."""
        deleted = self._gather(lambda node, cols: _queues.delete(cols.queues, queue_name))
        return any(deleted)

    # Reliable delivery -----------------------------------------------------

    def do_reserve(self, queue_name: str, count: int, lease_seconds: float) -> Batch:
        """Lease up to ``count`` ready items, visiting every node until there are enough.

        The batch has no handle: receipts name their node and claim token, so
        acking a batch is one ``delete_many`` per node however it arrives.
        """
        out: list[Delivery] = []

        def take(node: Node, cols: Collections) -> None:
            left = count - len(out)
            if left == 1:
                one = _queues.find_one_and_lease(cols.queues, queue_name, lease_seconds, node.index)
                out.extend(() if one is None else (one,))
            else:
                got = _queues.reserve(cols.queues, queue_name, left, lease_seconds, node.index)
                out.extend(got)

        for _ in self._visit(take):
            if len(out) >= count:
                break
        return Batch(out)

    def _by_node(
        self, receipts: Receipts, operation: Callable[[list[_queues.Receipt], Collections], int]
    ) -> int:
        grouped = _parse_receipts(receipts, len(self._nodes))
        total = 0
        failures: list[ConnectorUnavailableError] = []
        for index, mine in grouped.items():
            try:
                total += self._nodes[index].run(functools.partial(operation, mine))
            except ConnectorUnavailableError as exc:
                failures.append(exc)
        if failures and len(failures) == len(grouped):
            raise self._all_down(failures)
        return total

    def do_ack(self, queue_name: str, receipts: Receipts) -> int:
        """Delete leased items whose lease is live: one ``delete_many`` per node."""
        return self._by_node(
            receipts, lambda mine, cols: _queues.ack(cols.queues, queue_name, mine)
        )

    def do_release(self, queue_name: str, receipts: Receipts, consumable_from: float | None) -> int:
        """Put leased items back, ready at ``consumable_from`` (else now)."""
        return self._by_node(
            receipts,
            lambda mine, cols: _queues.release(cols.queues, queue_name, mine, consumable_from),
        )

    def do_extend(self, queue_name: str, receipts: Receipts, lease_seconds: float) -> int:
        """Renew live leases to ``lease_seconds`` from now."""
        return self._by_node(
            receipts,
            lambda mine, cols: _queues.extend(cols.queues, queue_name, mine, lease_seconds),
        )

    def do_stats(self, queue_name: str) -> list[NodeStats]:
        """One row of ready, delayed and in-flight counts per reachable node."""

        def row(node: Node, cols: Collections) -> NodeStats:
            ready, delayed, in_flight = _queues.stats(cols.queues, queue_name)
            return NodeStats(node=node.label, ready=ready, delayed=delayed, in_flight=in_flight)

        return self._gather(row)

    def do_queue_names(self) -> Iterable[str]:
        """Queues with items on any reachable node: ``distinct`` of the indexed queue field."""
        found = self._gather(lambda node, cols: _queues.names(cols.queues))
        return itertools.chain.from_iterable(found)

    # Keys -------------------------------------------------------------------

    def do_key_set(self, key: str, value: bytes) -> bool:
        """Store ``value`` under ``key``, overwriting (one upsert); True when the key was new."""
        _check_sizes([value], "value")

        def upsert(cols: Collections) -> bool:
            try:
                result = cols.keys.update_one({"_id": key}, {"$set": {"v": value}}, upsert=True)
            except DuplicateKeyError:  # a concurrent upsert inserted it first: overwrite
                cols.keys.update_one({"_id": key}, {"$set": {"v": value}})
                return False
            return result.upserted_id is not None

        stored: bool = self._owner(key).run(upsert)
        return stored

    def do_key_get(self, key: str) -> bytes | None:
        """The value stored under ``key``, or None."""
        doc = self._owner(key).run(lambda cols: cols.keys.find_one({"_id": key}))
        return None if doc is None else bytes(doc["v"])

    def do_key_delete(self, key: str) -> bool:
        """Remove ``key``; True if it existed."""
        deleted: int = self._owner(key).run(
            lambda cols: cols.keys.delete_one({"_id": key}).deleted_count
        )
        return deleted == 1

    # Locks ------------------------------------------------------------------

    def do_lock(self, name: str) -> Lock:
        """A :class:`MongoLock` on the node ``name`` hashes to (not yet acquired)."""
        return MongoLock(name, self._owner(name).run)

    # Lifecycle --------------------------------------------------------------

    def close(self) -> None:
        """Close every node's client. Calling it twice is harmless."""
        for node in self._nodes:
            node.close()


#: MongoDB documents are at most 16 MiB; an item leaves room for its other fields.
MAX_ITEM_BYTES = 16 * 1024 * 1024 - 16 * 1024


def _check_sizes(items: list[bytes], field: str) -> None:
    """Refuse an item MongoDB cannot store, naming it as the caller passed it:
    ``item`` or ``value`` alone, else ``items[i]``."""
    for index, item in enumerate(items):
        if len(item) > MAX_ITEM_BYTES:
            name = f"items[{index}]" if field == "items" else field
            raise StorageError(
                f"{name} is {len(item):,} bytes: MongoDB documents are at most 16 MiB, so "
                f"mongo items are at most {MAX_ITEM_BYTES:,} bytes; store big payloads "
                "elsewhere and push a reference"
            )
