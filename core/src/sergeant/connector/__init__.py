"""The connector contract: what every storage backend provides.

A connector stores queues of ``bytes`` items, keys and locks. Names follow
Sergeant's so its users feel at home. Backends subclass :class:`Connector` and
:class:`Lock`; the conformance kit (:mod:`sergeant.testing`) checks every clause
below against a real backend.

Queues
    ``priority`` is ``'HIGH'`` or ``'NORMAL'``; HIGH items are handed out before
    NORMAL ones. Within one priority a single node is FIFO; across nodes no order
    is promised. ``consumable_from`` (epoch seconds) delays an item until then.

Pops
    ``queue_pop``/``queue_pop_bulk`` remove items for good: at-most-once.

Reservations (at-least-once)
    ``queue_reserve`` hands items out under a lease and returns a
    :class:`Delivery` per item with an opaque ``receipt``. ``queue_ack`` removes
    them for good; ``queue_release`` puts them back (optionally delayed);
    ``queue_extend`` renews the lease. An item whose lease runs out is handed out
    again by the next pop or reserve, with ``deliveries`` one higher; its old
    receipt can no longer ack, release or extend. Reclaiming happens inside
    ordinary calls: no daemon is needed. ``queue_ack_and_reserve`` acks one batch
    and reserves the next in one round trip where the backend can (the worker's
    hot path); its default simply calls the two. ``queue_ack_and_reserve_begin``
    starts that call and returns the function that finishes it, so a backend
    that can send the request ahead lets the worker prefetch its next batch.

Queue names
    ``queue_names`` lists every queue that holds an item (ready, delayed or
    reserved) on a reachable node, sorted, without the backend's own internal
    structures. Dead-letter queues (``<queue>:dead``, see :mod:`sergeant.broker`)
    are queues like any other here; ``sergeant stats`` folds them into their queue.

Keys
    ``key_set`` stores the value whether or not the key exists, overwriting the
    old one, and returns True when the key was new, False when it overwrote
    (Sergeant's ``GETSET`` on Redis, upsert on Mongo, insert-or-update on SQLite);
    ``key_get`` and ``key_delete`` do what they say.

Locks
    ``lock(name)`` returns a :class:`Lock`. Each acquisition holds an owner token:
    ``release`` and ``set_ttl`` act only while this holder still owns the lock.
    ``set_ttl(0)`` frees the lock at once (Sergeant's backends expire it on the
    spot) and returns True when this holder owned it. A lock object that is
    garbage-collected while it holds the lock frees it, as Sergeant's ``__del__``
    does, but owner-checked (never a lock someone else took after this one
    expired) and from a background thread rather than inside the finalizer
    (:func:`release_when_collected`); at interpreter exit held locks are left
    to expire with their ttl.

Upgrading from Sergeant 0.27.0 (optional)
    ``migrate_legacy`` moves queues and keys Sergeant 0.27.0 left in the same
    storage into this layout; backends that offer it declare ``'migrate_legacy'``.

Threads and processes
    A connector object is safe to share between the threads of one process;
    each process opens its own.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import ClassVar, Literal, NamedTuple, Self

import attrs

from sergeant.connector._collected import (
    CollectedRelease,
    release_when_collected,
    settle_collected,
    wait_collected_released,
)
from sergeant.connector._lock import Lock
from sergeant.connector._token_lock import TokenLock
from sergeant.errors import StorageError
from sergeant.legacy import MIGRATE_LEGACY, LegacyReport
from sergeant.validation import check_count, check_positive, check_receipts

__all__ = [
    "CAPABILITIES",
    "CollectedRelease",
    "Connector",
    "Delivery",
    "Lock",
    "NodeStats",
    "Priority",
    "TokenLock",
    "deliveries_of",
    "release_when_collected",
    "settle_collected",
    "wait_collected_released",
]

Priority = Literal["HIGH", "NORMAL"]

#: Every capability a connector may declare. The built-in backends declare all.
CAPABILITIES: frozenset[str] = frozenset(
    {"queue", "priority", "delay", "bulk", "reserve", "keys", "locks", "stats"}
)


class Delivery(NamedTuple):
    """One item handed out by :meth:`Connector.queue_reserve` (immutable).

    A named tuple because reserves build one per item on the hot path, and a tuple
    is the cheapest immutable object Python makes.

    :ivar item: the stored bytes.
    :ivar receipt: opaque token for ack, release and extend; valid while the lease lasts.
    :ivar deliveries: how many times this item has been handed out, 1 the first time.
    """

    item: bytes
    receipt: str
    deliveries: int


_new_delivery = functools.partial(tuple.__new__, Delivery)


def deliveries_of(fields: Iterable[tuple[bytes, str, int]]) -> list[Delivery]:
    """A :class:`Delivery` of each ``(item, receipt, deliveries)``, built in C (a
    named tuple's own constructor is Python code, a cost per item of a reserve)."""
    return list(map(_new_delivery, fields))


@attrs.frozen(slots=True)
class NodeStats:
    """Counts of one queue on one storage node, for ``sergeant stats``.

    :ivar node: a label for the node (``host:port`` or a file path; never credentials).
    :ivar ready: items that can be handed out now.
    :ivar delayed: items waiting for their ``consumable_from``.
    :ivar in_flight: items reserved under a lease that has not run out.
    """

    node: str
    ready: int
    delayed: int
    in_flight: int


class Connector(abc.ABC):
    """A storage backend. Subclass it, set ``type_name``, implement every abstract method.

    The constructor takes the ``params`` of :class:`sergeant.config.Connector` as
    keyword arguments and validates them, failing with
    :class:`~sergeant.errors.ConfigError` naming the field.
    """

    #: The ``type`` string users write in ``sergeant.config.Connector(type=...)``.
    type_name: ClassVar[str]
    #: What this backend offers; the conformance kit skips only what is missing.
    capabilities: ClassVar[frozenset[str]] = CAPABILITIES

    # Queues -------------------------------------------------------------

    @abc.abstractmethod
    def queue_push(
        self,
        queue_name: str,
        item: bytes,
        priority: Priority = "NORMAL",
        consumable_from: float | None = None,
    ) -> bool:
        """Append one item; True once it is stored."""

    @abc.abstractmethod
    def queue_push_bulk(
        self,
        queue_name: str,
        items: Iterable[bytes],
        priority: Priority = "NORMAL",
        consumable_from: float | None = None,
    ) -> bool:
        """Append many items in order; True once all are stored."""

    @abc.abstractmethod
    def queue_pop(self, queue_name: str) -> bytes | None:
        """Remove and return the next item, or None when none is ready (at-most-once)."""

    @abc.abstractmethod
    def queue_pop_bulk(self, queue_name: str, number_of_items: int) -> list[bytes]:
        """Remove and return up to ``number_of_items`` ready items (at-most-once)."""

    @abc.abstractmethod
    def queue_length(self, queue_name: str, include_delayed: bool = False) -> int:
        """Items waiting to be handed out; with ``include_delayed``, delayed ones too.

        Items reserved under a live lease are in flight and not counted.
        """

    @abc.abstractmethod
    def queue_delete(self, queue_name: str) -> bool:
        """Remove the queue with all its items, reserved ones included; True if it had any."""

    # Reliable delivery --------------------------------------------------

    @abc.abstractmethod
    def queue_reserve(
        self, queue_name: str, number_of_items: int, lease_seconds: float
    ) -> list[Delivery]:
        """Hand out up to ``number_of_items`` ready items under a lease of ``lease_seconds``."""

    @abc.abstractmethod
    def queue_ack(self, queue_name: str, receipts: Sequence[str]) -> int:
        """Remove reserved items for good; returns how many receipts were still valid."""

    def queue_ack_and_reserve(
        self,
        queue_name: str,
        receipts: Sequence[str],
        number_of_items: int,
        lease_seconds: float,
    ) -> tuple[int, list[Delivery]]:
        """Ack ``receipts``, then reserve up to ``number_of_items``: ``(acked, deliveries)``.

        The same as :meth:`queue_ack` followed by :meth:`queue_reserve`, with the
        same validation; backends override it to do both in one round trip or one
        transaction. The acks come first. If the call raises, the acks may or may
        not have been done (this default keeps them; a one-transaction override
        rolls them back): acking the same receipts again is always safe, since an
        ack of an item already acked counts 0.
        """
        check_count("number_of_items", number_of_items)
        check_positive("lease_seconds", lease_seconds)
        checked = check_receipts(receipts)
        acked = self.queue_ack(queue_name, checked) if checked else 0
        return acked, self.queue_reserve(queue_name, number_of_items, lease_seconds)

    def queue_ack_and_reserve_begin(
        self,
        queue_name: str,
        receipts: Sequence[str],
        number_of_items: int,
        lease_seconds: float,
    ) -> Callable[[], tuple[int, list[Delivery]]]:
        """Start :meth:`queue_ack_and_reserve`; the returned function finishes it
        and returns its result (call it once).

        The worker prefetches with it: it starts the next batch's call, works the
        current batch, then finishes the call. A backend that can send the
        request now and read the reply later overrides it, so the round trip and
        the server's work overlap with the caller's; any other call on the
        connector in between, from any thread, must still work. Errors may be
        raised by either step, with :meth:`queue_ack_and_reserve`'s meaning.
        This default makes the whole call at once.
        """
        result = self.queue_ack_and_reserve(queue_name, receipts, number_of_items, lease_seconds)
        return lambda: result

    @abc.abstractmethod
    def queue_release(
        self, queue_name: str, receipts: Sequence[str], consumable_from: float | None = None
    ) -> int:
        """Put reserved items back (not before ``consumable_from``); returns how many."""

    @abc.abstractmethod
    def queue_extend(self, queue_name: str, receipts: Sequence[str], lease_seconds: float) -> int:
        """Renew leases to ``lease_seconds`` from now; returns how many were still valid."""

    @abc.abstractmethod
    def queue_stats(self, queue_name: str) -> list[NodeStats]:
        """Per-node counts of ready, delayed and in-flight items."""

    @abc.abstractmethod
    def queue_names(self) -> list[str]:
        """Sorted names of the queues holding any item (ready, delayed or in flight)."""

    # Keys ---------------------------------------------------------------

    @abc.abstractmethod
    def key_set(self, key: str, value: bytes) -> bool:
        """Store ``value`` under ``key``, overwriting any old value; True when the key was new."""

    @abc.abstractmethod
    def key_get(self, key: str) -> bytes | None:
        """The value stored under ``key``, or None."""

    @abc.abstractmethod
    def key_delete(self, key: str) -> bool:
        """Remove ``key``; True if it existed."""

    # Locks --------------------------------------------------------------

    @abc.abstractmethod
    def lock(self, name: str) -> Lock:
        """A :class:`Lock` object for ``name`` (not yet acquired)."""

    # Upgrading from Sergeant 0.27.0 (optional) -----------------------------

    def migrate_legacy(
        self,
        queues: Sequence[str] | None = None,
        *,
        keys: str | bool = True,
        dry_run: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> LegacyReport:
        """Move what Sergeant 0.27.0 stored in this storage into this connector's layout.

        Optional: a backend that implements it adds the capability
        :data:`sergeant.legacy.MIGRATE_LEGACY` (``'migrate_legacy'``) to its
        ``capabilities``; ``sergeant migrate`` calls it. Each item moves in one
        atomic step (taken from the old structure and written to the new one
        together), so a crash at any point neither loses nor duplicates an item,
        and running it again, even while old producers still push, moves only
        what is left. Priorities and due times are kept, payload bytes unchanged.

        :param queues: the queues to move; None: every queue found.
        :param keys: True moves the keys that are surely Sergeant's (where it kept
            them apart from other data), False none, a glob (``'user:*'``) those
            whose names match. A key ours already holds with another value stays.
        :param dry_run: count only; change nothing.
        :param progress: called with the number of items moved so far, per batch.
        :returns: what was moved (or found, with ``dry_run``).
        """
        raise StorageError(
            f"connector type {self.type_name!r} cannot migrate Sergeant 0.27.0 data"
            f" (it does not declare the {MIGRATE_LEGACY!r} capability)"
        )

    # Lifecycle ----------------------------------------------------------

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections and files. Calling it twice is harmless."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
