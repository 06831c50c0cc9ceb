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
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.errors import DuplicateKeyError
from sergeant.connector import Connector, Delivery, Lock, NodeStats, Priority
from sergeant.errors import AuthenticationError, ConnectorUnavailableError, StorageError
from sergeant.nodes import Rotation, gather, node_names, rendezvous, visit
from sergeant.validation import (
    build_params,
    check_consumable_from,
    check_count,
    check_item,
    check_items,
    check_name,
    check_positive,
    check_priority,
    check_queue_name,
    check_receipts,
)

from sergeant_mongo import _queues
from sergeant_mongo._lock import MongoLock
from sergeant_mongo._node import Collections, Node, NodeSettings
from sergeant_mongo._params import MongoParams

__all__ = ["MongoConnector"]

T = TypeVar("T")


def _parse_receipts(receipts: Any, nodes: int) -> dict[int, list[_queues.Receipt]]:
    """Group valid receipts by node; malformed or foreign ones are ignored (they match nothing)."""
    grouped: dict[int, list[_queues.Receipt]] = {}
    for receipt in check_receipts(receipts):
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

    def queue_push(
        self,
        queue_name: str,
        item: bytes,
        priority: Priority = "NORMAL",
        consumable_from: float | None = None,
    ) -> bool:
        """Append one item on the next node in rotation; True once stored."""
        _check_sizes([check_item(item)], "item")
        return self.queue_push_bulk(queue_name, [item], priority, consumable_from)

    def queue_push_bulk(
        self,
        queue_name: str,
        items: Iterable[bytes],
        priority: Priority = "NORMAL",
        consumable_from: float | None = None,
    ) -> bool:
        """Append many items in order on one node (one ``insert_many`` per chunk)."""
        check_queue_name(queue_name)
        rank = _queues.RANK[check_priority(priority)]
        delayed = check_consumable_from(consumable_from)
        checked = check_items(items)
        if not checked:
            return True
        _check_sizes(checked)

        def insert(cols: Collections) -> None:
            # the push time itself, never clamped: a clock stepping back must not hide items
            at = time.time() if delayed is None else delayed
            _queues.push(cols.queues, queue_name, checked, rank, at)

        self._first(insert)
        return True

    def queue_pop(self, queue_name: str) -> bytes | None:
        """Remove and return the next ready item from the first node that has one."""
        check_queue_name(queue_name)
        for item in self._visit(lambda node, cols: _queues.pop(cols.queues, queue_name)):
            if item is not None:
                return item
        return None

    def queue_pop_bulk(self, queue_name: str, number_of_items: int) -> list[bytes]:
        """Remove and return up to ``number_of_items`` ready items, visiting every node."""
        check_queue_name(queue_name)
        want = check_count("number_of_items", number_of_items)
        out: list[bytes] = []

        def take(node: Node, cols: Collections) -> list[bytes]:
            left = want - len(out)
            if left == 1:
                one = _queues.pop(cols.queues, queue_name)
                got = [] if one is None else [one]
            else:
                got = _queues.pop_many(cols.queues, queue_name, left)
            out.extend(got)
            return got

        for _ in self._visit(take):
            if len(out) >= want:
                break
        return out

    def queue_length(self, queue_name: str, include_delayed: bool = False) -> int:
        """Ready items on every reachable node; with ``include_delayed``, delayed ones too."""
        check_queue_name(queue_name)
        counts = self._gather(
            lambda node, cols: _queues.count(cols.queues, queue_name, bool(include_delayed))
        )
        return sum(counts)

    def queue_delete(self, queue_name: str) -> bool:
        """Remove the queue from every reachable node; True if any node had items."""
        check_queue_name(queue_name)
        deleted = self._gather(lambda node, cols: _queues.delete(cols.queues, queue_name))
        return any(deleted)

    # Reliable delivery -----------------------------------------------------

    def queue_reserve(
        self, queue_name: str, number_of_items: int, lease_seconds: float
    ) -> list[Delivery]:
        """Lease up to ``number_of_items`` ready items, visiting every node."""
        check_queue_name(queue_name)
        want = check_count("number_of_items", number_of_items)
        lease = check_positive("lease_seconds", lease_seconds)
        out: list[Delivery] = []

        def take(node: Node, cols: Collections) -> int:
            left = want - len(out)
            if left == 1:
                one = _queues.find_one_and_lease(cols.queues, queue_name, lease, node.index)
                got = [] if one is None else [one]
            else:
                got = _queues.reserve(cols.queues, queue_name, left, lease, node.index)
            out.extend(got)
            return len(got)

        for _ in self._visit(take):
            if len(out) >= want:
                break
        return out

    def _by_node(
        self,
        receipts: Any,
        operation: Callable[[list[_queues.Receipt], Collections], int],
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

    def queue_ack(self, queue_name: str, receipts: Sequence[str]) -> int:
        """Remove leased items for good; returns how many receipts were still valid."""
        check_queue_name(queue_name)
        return self._by_node(
            receipts, lambda mine, cols: _queues.ack(cols.queues, queue_name, mine)
        )

    def queue_release(
        self, queue_name: str, receipts: Sequence[str], consumable_from: float | None = None
    ) -> int:
        """Put leased items back (not before ``consumable_from``); returns how many."""
        check_queue_name(queue_name)
        at = check_consumable_from(consumable_from)
        return self._by_node(
            receipts, lambda mine, cols: _queues.release(cols.queues, queue_name, mine, at)
        )

    def queue_extend(self, queue_name: str, receipts: Sequence[str], lease_seconds: float) -> int:
        """Renew live leases to ``lease_seconds`` from now; returns how many."""
        check_queue_name(queue_name)
        lease = check_positive("lease_seconds", lease_seconds)
        return self._by_node(
            receipts, lambda mine, cols: _queues.extend(cols.queues, queue_name, mine, lease)
        )

    def queue_stats(self, queue_name: str) -> list[NodeStats]:
        """One row of ready, delayed and in-flight counts per reachable node."""
        check_queue_name(queue_name)

        def row(node: Node, cols: Collections) -> NodeStats:
            ready, delayed, in_flight = _queues.stats(cols.queues, queue_name)
            return NodeStats(node=node.label, ready=ready, delayed=delayed, in_flight=in_flight)

        return self._gather(row)

    def queue_names(self) -> list[str]:
        """Queues with items on any reachable node: ``distinct`` of the indexed queue field."""
        names: set[str] = set()
        for found in self._gather(lambda node, cols: _queues.names(cols.queues)):
            names.update(found)
        return sorted(names)

    # Keys -------------------------------------------------------------------

    def key_set(self, key: str, value: bytes) -> bool:
        """Store ``value`` under ``key``, overwriting (one upsert); True when the key was new."""
        check_name(key, "key")
        _check_sizes([check_item(value, "value")], "value")

        def upsert(cols: Collections) -> bool:
            try:
                result = cols.keys.update_one({"_id": key}, {"$set": {"v": value}}, upsert=True)
            except DuplicateKeyError:  # a concurrent upsert inserted it first: overwrite
                cols.keys.update_one({"_id": key}, {"$set": {"v": value}})
                return False
            return result.upserted_id is not None

        stored: bool = self._owner(key).run(upsert)
        return stored

    def key_get(self, key: str) -> bytes | None:
        """The value stored under ``key``, or None."""
        check_name(key, "key")
        doc = self._owner(key).run(lambda cols: cols.keys.find_one({"_id": key}))
        return None if doc is None else bytes(doc["v"])

    def key_delete(self, key: str) -> bool:
        """Remove ``key``; True if it existed."""
        check_name(key, "key")
        deleted: int = self._owner(key).run(
            lambda cols: cols.keys.delete_one({"_id": key}).deleted_count
        )
        return deleted == 1

    # Locks ------------------------------------------------------------------

    def lock(self, name: str) -> Lock:
        """A :class:`MongoLock` on the node ``name`` hashes to (not yet acquired)."""
        check_name(name, "name")
        return MongoLock(name, self._owner(name).run)

    # Lifecycle --------------------------------------------------------------

    def close(self) -> None:
        """Close every node's client. Calling it twice is harmless."""
        for node in self._nodes:
            node.close()


#: MongoDB documents are at most 16 MiB; an item leaves room for its other fields.
MAX_ITEM_BYTES = 16 * 1024 * 1024 - 16 * 1024


def _check_sizes(items: list[bytes], field: str = "items") -> None:
    for index, item in enumerate(items):
        if len(item) > MAX_ITEM_BYTES:
            name = f"items[{index}]" if field == "items" else field
            raise StorageError(
                f"{name} is {len(item):,} bytes: MongoDB documents are at most 16 MiB, so "
                f"mongo items are at most {MAX_ITEM_BYTES:,} bytes; store big payloads "
                "elsewhere and push a reference"
            )
