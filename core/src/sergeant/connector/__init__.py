"""The connector contract: what every storage backend provides.

A connector stores queues of ``bytes`` items, keys and locks. Names follow
Sergeant's so its users feel at home. The public methods below live in
:class:`Connector` itself and check their arguments once; a backend subclasses
it and implements only storage primitives (``do_push``, ``do_reserve``...) for
the capabilities it declares, plus a :class:`TokenLock` for locks. The
conformance kit (:mod:`sergeant.testing`) checks every clause below against a
real backend; ``docs/writing-a-connector.md`` walks through writing one.

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
    hot path; capability ``'ack_and_reserve'``), else calls the two.
    ``queue_ack_and_reserve_begin`` starts that call and returns the function
    that finishes it, so a backend that can send the request ahead (capability
    ``'prefetch'``) lets the worker prefetch its next batch. A reserve returns a
    :class:`Batch`; acking exactly its :meth:`Batch.receipts` lets the backend
    settle the whole batch without parsing each receipt (the worker does so).
    ``queue_peek`` (capability ``'peek'``) reads ready items without a lease.

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

from sergeant.connector._batch import Batch, Receipts
from sergeant.connector._capabilities import (
    ACK_AND_RESERVE,
    BASIC,
    CAPABILITIES,
    PEEK,
    PREFETCH,
    check_declared,
)
from sergeant.connector._chunks import push_in_chunks
from sergeant.connector._collected import (
    CollectedRelease,
    release_when_collected,
    settle_collected,
    wait_collected_released,
)
from sergeant.connector._lock import Lock
from sergeant.connector._token_lock import TokenLock
from sergeant.errors import ConfigError, ItemTooLargeError, StorageError
from sergeant.legacy import MIGRATE_LEGACY, LegacyReport
from sergeant.validation import (
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

__all__ = [
    "ACK_AND_RESERVE",
    "BASIC",
    "CAPABILITIES",
    "MIGRATE_LEGACY",
    "PEEK",
    "PREFETCH",
    "Batch",
    "CollectedRelease",
    "Connector",
    "Delivery",
    "Lock",
    "NodeStats",
    "Priority",
    "Receipts",
    "TokenLock",
    "deliveries_of",
    "push_in_chunks",
    "release_when_collected",
    "settle_collected",
    "wait_collected_released",
]

Priority = Literal["HIGH", "NORMAL"]


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


def _receipts(receipts: Sequence[str]) -> Receipts:
    """``receipts`` checked, as primitives take them (a batch's own pass unchanged)."""
    if type(receipts) is Receipts:
        return receipts
    return Receipts(check_receipts(receipts))


class Connector(abc.ABC):
    """A storage backend: subclass it, set ``type_name``, implement the primitives.

    The public methods (``queue_push``, ``queue_reserve``, ``key_set``...) live
    here: they check their arguments once, with errors naming the field, then
    call the backend's ``do_*`` primitives with clean values (a known priority,
    a finite ``consumable_from``, non-empty lists of bytes or receipts, a count
    of at least 1). A backend implements the four queue primitives and those of
    each capability it declares in ``capabilities`` (see
    :data:`sergeant.connector._capabilities.PRIMITIVES`); a class whose
    declaration and primitives disagree is refused when it is defined.

    The constructor takes the ``params`` of :class:`sergeant.config.Connector` as
    keyword arguments and validates them, failing with
    :class:`~sergeant.errors.ConfigError` naming the field.
    """

    #: The ``type`` string users write in ``sergeant.config.Connector(type=...)``.
    type_name: ClassVar[str]
    #: What this backend offers: the worker, the broker and the kit read only this.
    capabilities: ClassVar[frozenset[str]] = BASIC
    #: The largest item (or key value) the storage holds, in bytes (None: no limit
    #: of its own); a larger one is refused, naming it, before anything is stored.
    max_item_bytes: ClassVar[int | None] = None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        check_declared(cls, Connector)

    def _need(self, capability: str, call: str) -> None:
        if capability not in self.capabilities:
            raise StorageError(
                f"connector type {self.type_name!r} does not offer {call}() (it does not"
                f" declare the {capability!r} capability): use a backend that does"
            )

    # Queues -------------------------------------------------------------

    def queue_push(
        self,
        queue_name: str,
        item: bytes,
        priority: Priority = "NORMAL",
        consumable_from: float | None = None,
    ) -> bool:
        """Append one item; True once it is stored."""
        check_queue_name(queue_name)
        check_item(item)
        self._check_sizes([item], "item")
        self.do_push(queue_name, [item], *self._placement(priority, consumable_from))
        return True

    def queue_push_bulk(
        self,
        queue_name: str,
        items: Iterable[bytes],
        priority: Priority = "NORMAL",
        consumable_from: float | None = None,
    ) -> bool:
        """Append many items in order; True once all are stored."""
        check_queue_name(queue_name)
        placement = self._placement(priority, consumable_from)
        checked = check_items(items)
        if checked:
            self._check_sizes(checked, "items")
            self.do_push(queue_name, checked, *placement)
        return True

    def _check_sizes(self, items: list[bytes], field: str) -> None:
        """Refuse an item over :attr:`max_item_bytes`, naming it as the caller passed it."""
        limit = self.max_item_bytes
        if limit is None or max(map(len, items)) <= limit:
            return
        index, size = next((i, len(item)) for i, item in enumerate(items) if len(item) > limit)
        raise ItemTooLargeError(
            f"items[{index}]" if field == "items" else field,
            None,
            f"the {self.type_name} connector stores items of at most {limit:,} bytes; store "
            "big payloads elsewhere and push a reference",
            shown=f"{size:,} bytes",
        )

    def _placement(
        self, priority: Priority, consumable_from: float | None
    ) -> tuple[Priority, float | None]:
        checked: Priority = check_priority(priority)  # type: ignore[assignment]
        delay = check_consumable_from(consumable_from)
        if checked == "HIGH" and "priority" not in self.capabilities:
            raise ConfigError(
                "priority",
                priority,
                f"connector type {self.type_name!r} has no priorities: push with 'NORMAL'",
            )
        if delay is not None and "delay" not in self.capabilities:
            raise ConfigError(
                "consumable_from",
                consumable_from,
                f"connector type {self.type_name!r} cannot delay items: push without it",
            )
        return checked, delay

    def queue_pop(self, queue_name: str) -> bytes | None:
        """Remove and return the next item, or None when none is ready (at-most-once)."""
        items = self.do_pop(check_queue_name(queue_name), 1)
        return items[0] if items else None

    def queue_pop_bulk(self, queue_name: str, number_of_items: int) -> list[bytes]:
        """Remove and return up to ``number_of_items`` ready items (at-most-once)."""
        check_queue_name(queue_name)
        return self.do_pop(queue_name, check_count("number_of_items", number_of_items))

    def queue_peek(self, queue_name: str, number_of_items: int) -> list[bytes]:
        """Up to ``number_of_items`` ready items in the order they would be handed
        out, left in place (no lease, no delivery counted). Needs ``'peek'``."""
        check_queue_name(queue_name)
        count = check_count("number_of_items", number_of_items)
        self._need(PEEK, "queue_peek")
        return self.do_peek(queue_name, count)

    def queue_length(self, queue_name: str, include_delayed: bool = False) -> int:
        """Items waiting to be handed out; with ``include_delayed``, delayed ones too.

        Items reserved under a live lease are in flight and not counted.
        """
        return self.do_length(check_queue_name(queue_name), bool(include_delayed))

    def queue_delete(self, queue_name: str) -> bool:
        """Remove the queue with all its items, reserved ones included; True if it had any."""
        return self.do_delete(check_queue_name(queue_name))

    # Reliable delivery --------------------------------------------------

    def queue_reserve(self, queue_name: str, number_of_items: int, lease_seconds: float) -> Batch:
        """Hand out up to ``number_of_items`` ready items under a lease of
        ``lease_seconds``; the result is a :class:`Batch` (a list of
        :class:`Delivery`), whose :meth:`Batch.receipts` ack it whole cheaply."""
        check_queue_name(queue_name)
        count = check_count("number_of_items", number_of_items)
        lease = check_positive("lease_seconds", lease_seconds)
        self._need("reserve", "queue_reserve")
        return self.do_reserve(queue_name, count, lease)

    def queue_ack(self, queue_name: str, receipts: Sequence[str]) -> int:
        """Remove reserved items for good; returns how many receipts were still valid."""
        check_queue_name(queue_name)
        checked = _receipts(receipts)
        self._need("reserve", "queue_ack")
        return self.do_ack(queue_name, checked) if checked else 0

    def queue_ack_and_reserve(
        self,
        queue_name: str,
        receipts: Sequence[str],
        number_of_items: int,
        lease_seconds: float,
    ) -> tuple[int, Batch]:
        """Ack ``receipts``, then reserve up to ``number_of_items``: ``(acked, deliveries)``.

        Every argument is checked before anything is acked. A backend declaring
        ``'ack_and_reserve'`` does both in one round trip or transaction;
        otherwise this is :meth:`queue_ack` then :meth:`queue_reserve`. If the
        call raises, the acks may or may not have been done: acking the same
        receipts again is always safe (an item already acked counts 0).
        """
        checked, count, lease = self._ack_and_reserve_args(
            queue_name, receipts, number_of_items, lease_seconds
        )
        return self._ack_and_reserve(queue_name, checked, count, lease)

    def _ack_and_reserve(
        self, queue_name: str, checked: Receipts, count: int, lease: float
    ) -> tuple[int, Batch]:
        """:meth:`queue_ack_and_reserve` once its arguments are checked."""
        if ACK_AND_RESERVE in self.capabilities:
            return self.do_ack_and_reserve(queue_name, checked, count, lease)
        acked = self.do_ack(queue_name, checked) if checked else 0
        return acked, self.do_reserve(queue_name, count, lease)

    def queue_ack_and_reserve_begin(
        self,
        queue_name: str,
        receipts: Sequence[str],
        number_of_items: int,
        lease_seconds: float,
    ) -> Callable[[], tuple[int, Batch]]:
        """Start :meth:`queue_ack_and_reserve`; the returned function finishes it
        and returns its result (call it once).

        The worker prefetches with it: it starts the next batch's call, works the
        current batch, then finishes the call. A backend declaring ``'prefetch'``
        sends the request now and reads the reply later, so the round trip and
        the server's work overlap with the caller's; any other call on the
        connector in between, from any thread, still works. Otherwise the whole
        call is made at once.
        """
        checked, count, lease = self._ack_and_reserve_args(
            queue_name, receipts, number_of_items, lease_seconds
        )
        if PREFETCH in self.capabilities:
            return self.do_ack_and_reserve_begin(queue_name, checked, count, lease)
        result = self._ack_and_reserve(queue_name, checked, count, lease)
        return lambda: result

    def _ack_and_reserve_args(
        self, queue_name: str, receipts: Sequence[str], number_of_items: int, lease_seconds: float
    ) -> tuple[Receipts, int, float]:
        check_queue_name(queue_name)
        count = check_count("number_of_items", number_of_items)
        lease = check_positive("lease_seconds", lease_seconds)
        checked = _receipts(receipts)
        self._need("reserve", "queue_ack_and_reserve")
        return checked, count, lease

    def queue_release(
        self, queue_name: str, receipts: Sequence[str], consumable_from: float | None = None
    ) -> int:
        """Put reserved items back (not before ``consumable_from``); returns how many."""
        check_queue_name(queue_name)
        checked = _receipts(receipts)
        delay = check_consumable_from(consumable_from)
        self._need("reserve", "queue_release")
        return self.do_release(queue_name, checked, delay) if checked else 0

    def queue_extend(self, queue_name: str, receipts: Sequence[str], lease_seconds: float) -> int:
        """Renew leases to ``lease_seconds`` from now; returns how many were still valid."""
        check_queue_name(queue_name)
        checked = _receipts(receipts)
        lease = check_positive("lease_seconds", lease_seconds)
        self._need("reserve", "queue_extend")
        return self.do_extend(queue_name, checked, lease) if checked else 0

    def queue_stats(self, queue_name: str) -> list[NodeStats]:
        """Per-node counts of ready, delayed and in-flight items."""
        check_queue_name(queue_name)
        self._need("stats", "queue_stats")
        return self.do_stats(queue_name)

    def queue_names(self) -> list[str]:
        """Sorted names of the queues holding any item (ready, delayed or in flight)."""
        self._need("stats", "queue_names")
        return sorted(set(self.do_queue_names()))

    # Keys ---------------------------------------------------------------

    def key_set(self, key: str, value: bytes) -> bool:
        """Store ``value`` under ``key``, overwriting any old value; True when the key was new."""
        check_name(key, "key")
        check_item(value, "value")
        self._check_sizes([value], "value")
        self._need("keys", "key_set")
        return self.do_key_set(key, value)

    def key_get(self, key: str) -> bytes | None:
        """The value stored under ``key``, or None."""
        check_name(key, "key")
        self._need("keys", "key_get")
        return self.do_key_get(key)

    def key_delete(self, key: str) -> bool:
        """Remove ``key``; True if it existed."""
        check_name(key, "key")
        self._need("keys", "key_delete")
        return self.do_key_delete(key)

    # Locks --------------------------------------------------------------

    def lock(self, name: str) -> Lock:
        """A :class:`Lock` object for ``name`` (not yet acquired)."""
        check_name(name, "name")
        self._need("locks", "lock")
        return self.do_lock(name)

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

        Needs the capability :data:`~sergeant.legacy.MIGRATE_LEGACY`
        (``'migrate_legacy'``); ``sergeant migrate`` calls it. Each item moves in
        one atomic step (taken from the old structure and written to the new one
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
        if MIGRATE_LEGACY not in self.capabilities:
            raise StorageError(
                f"connector type {self.type_name!r} cannot migrate Sergeant 0.27.0 data"
                f" (it does not declare the {MIGRATE_LEGACY!r} capability)"
            )
        names = None if queues is None else [check_queue_name(name) for name in queues]
        return self.do_migrate_legacy(names, keys, bool(dry_run), progress)

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

    # Primitives: what a backend implements ----------------------------------
    #
    # Arguments arrive checked: queue names and keys are non-empty text, items
    # non-empty lists of bytes, counts at least 1, leases positive and finite,
    # receipt lists non-empty. Backends still treat a receipt's content as
    # untrusted (it may name nothing, or something already settled).

    @abc.abstractmethod
    def do_push(
        self, queue_name: str, items: list[bytes], priority: Priority, consumable_from: float | None
    ) -> None:
        """Store ``items`` in order at ``priority``, ready at once or from
        ``consumable_from`` (epoch seconds); return once they are stored."""

    @abc.abstractmethod
    def do_pop(self, queue_name: str, count: int) -> list[bytes]:
        """Remove and return up to ``count`` ready items, HIGH first, then in order.
        Items whose lease ran out are ready again (reclaim them here)."""

    @abc.abstractmethod
    def do_length(self, queue_name: str, include_delayed: bool) -> int:
        """Ready items (expired leases count as ready); delayed ones too with
        ``include_delayed``; never items under a live lease."""

    @abc.abstractmethod
    def do_delete(self, queue_name: str) -> bool:
        """Remove every item of the queue, reserved ones included; True if it had any."""

    def do_peek(self, queue_name: str, count: int) -> list[bytes]:
        """Capability ``'peek'``: up to ``count`` ready items in hand-out order, left in place."""
        raise NotImplementedError

    def do_reserve(self, queue_name: str, count: int, lease_seconds: float) -> Batch:
        """Capability ``'reserve'``: hand out up to ``count`` ready items under a
        lease, each with a receipt and its delivery count (reclaiming expired
        leases here, one delivery higher), as a :class:`Batch` with this
        backend's handle for acking it whole (or None)."""
        raise NotImplementedError

    def do_ack(self, queue_name: str, receipts: Receipts) -> int:
        """Capability ``'reserve'``: remove the items of live receipts for good;
        how many. ``receipts.handle`` is set when they are a whole batch."""
        raise NotImplementedError

    def do_release(self, queue_name: str, receipts: Receipts, consumable_from: float | None) -> int:
        """Capability ``'reserve'``: put live receipts' items back (ready at
        ``consumable_from``, else at once); how many."""
        raise NotImplementedError

    def do_extend(self, queue_name: str, receipts: Receipts, lease_seconds: float) -> int:
        """Capability ``'reserve'``: renew live receipts' leases to
        ``lease_seconds`` from now; how many."""
        raise NotImplementedError

    def do_ack_and_reserve(
        self, queue_name: str, receipts: Receipts, count: int, lease_seconds: float
    ) -> tuple[int, Batch]:
        """Capability ``'ack_and_reserve'``: :meth:`do_ack` (when ``receipts`` is
        not empty) then :meth:`do_reserve`, in one round trip or transaction."""
        raise NotImplementedError

    def do_ack_and_reserve_begin(
        self, queue_name: str, receipts: Receipts, count: int, lease_seconds: float
    ) -> Callable[[], tuple[int, Batch]]:
        """Capability ``'prefetch'``: send :meth:`do_ack_and_reserve` now; the
        returned function reads its reply."""
        raise NotImplementedError

    def do_stats(self, queue_name: str) -> list[NodeStats]:
        """Capability ``'stats'``: per-node ready, delayed and in-flight counts."""
        raise NotImplementedError

    def do_queue_names(self) -> Iterable[str]:
        """Capability ``'stats'``: names of the queues holding any item, without
        the backend's internal structures (the caller sorts and de-duplicates)."""
        raise NotImplementedError

    def do_key_set(self, key: str, value: bytes) -> bool:
        """Capability ``'keys'``: store, overwriting; True when the key was new."""
        raise NotImplementedError

    def do_key_get(self, key: str) -> bytes | None:
        """Capability ``'keys'``: the value under ``key``, or None."""
        raise NotImplementedError

    def do_key_delete(self, key: str) -> bool:
        """Capability ``'keys'``: remove ``key``; True if it existed."""
        raise NotImplementedError

    def do_lock(self, name: str) -> Lock:
        """Capability ``'locks'``: a lock for ``name``, usually a :class:`TokenLock`."""
        raise NotImplementedError

    def do_migrate_legacy(
        self,
        queues: list[str] | None,
        keys: str | bool,
        dry_run: bool,
        progress: Callable[[int], None] | None,
    ) -> LegacyReport:
        """Capability ``'migrate_legacy'``: see :meth:`migrate_legacy`."""
        raise NotImplementedError
