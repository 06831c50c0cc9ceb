"""The ``redis`` connector: queues, keys and locks on independent redis-servers.

Nodes
    ``nodes`` lists independent servers (not a cluster). Pushes rotate across
    them (a bulk push, chunk by chunk); pops and reserves visit every node,
    starting from a rotating one, before answering empty; a node that was
    empty for the queue a moment ago (:data:`EMPTY_HINT`) is visited after the
    others, never skipped. ``queue_length`` sums over nodes. A node that is
    down is skipped until its back-off ends (see :mod:`sergeant_redis.node`);
    when it returns its items are consumed again. If no node answers,
    :class:`~sergeant.errors.ConnectorUnavailableError`. Keys and locks live on
    the node chosen by rendezvous hashing of their name over the nodes' names
    (``name``, else the position in ``nodes``: never the host as spelled); if
    that node is down they raise, naming it. Rotation, back-off, visits and
    hashing are :mod:`sergeant.nodes`'.

Key layout (one prefix per queue, so ``queue_delete`` leaves nothing behind)
    ``sergeant:queue:<name>:high`` / ``:normal``
        lists of fresh items, raw bytes, FIFO. A plain push is one ``RPUSH``.
    ``sergeant:queue:<name>:retry_high`` / ``:retry_normal``
        lists of items handed out before and put back (released, or whose
        lease ran out), as entries ``<H|N><deliveries>:<item>``. Each is served
        before the fresh items of its priority.
    ``sergeant:queue:<name>:delayed``
        sorted set of items not yet due; score = ``consumable_from`` (epoch
        seconds), member = 16 hex digits of ``:seq`` + entry (unique, and FIFO
        among equal due times).
    ``sergeant:queue:<name>:leases``
        sorted set of leases, one per reserve call on the node (a *group*);
        score = lease expiry, member = the call's token (``<token>/<k>`` for
        items split off by a partial ``queue_extend``).
    ``sergeant:queue:<name>:leases:<group>``
        hash of the group's items: item number -> the item (raw when fresh,
        an entry when handed out before). Emptied by acks, it goes with its lease.
    ``sergeant:queue:<name>:batches``
        hash token -> meta of a reserve call whose items did not all come
        from ``:normal`` or that has split groups (see :mod:`sergeant_redis.scripts`).
    ``sergeant:queue:<name>:seq``
        counter for delayed members.
    ``sergeant:key:<key>``, ``sergeant:lock:<name>``
        keys and locks.

Time
    Leases, due times and lock expiry use the server's clock (``TIME`` inside
    the scripts, key TTLs for locks). ``consumable_from`` is, by contract, an
    epoch timestamp from the client: it is compared with the server's time, so
    a client whose clock is off by ``d`` seconds sees its delays off by ``d``.

Scripts
    Every multi-step operation is one Lua script call per node visited
    (:mod:`sergeant_redis.scripts`). Due delayed items and expired leases are
    moved back to the lists by the pops and reserves themselves; no daemon.
    ``queue_ack_and_reserve`` acks and reserves in one script call on a node.

Receipts
    ``<node index>:<token>:<n>`` (:mod:`sergeant_redis.receipts`): acks,
    releases and extends go to the node the item came from, grouped by call.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, ClassVar, TypeVar

import redis.exceptions
from sergeant.connector import CAPABILITIES, Connector, Delivery, Lock, NodeStats, Priority
from sergeant.errors import ConnectorUnavailableError
from sergeant.legacy import MIGRATE_LEGACY, LegacyReport
from sergeant.nodes import Rotation, gather, rendezvous, visit
from sergeant.validation import (
    check_consumable_from,
    check_count,
    check_item,
    check_items,
    check_name,
    check_positive,
    check_priority,
    check_queue_name,
)

from sergeant_redis import legacy, scripts
from sergeant_redis.lock import RedisLock
from sergeant_redis.node import Node, NodeUnavailableError
from sergeant_redis.params import NodeParams, node_names, parse_nodes
from sergeant_redis.receipts import Issued, batch_args, by_node, deliveries, new_token

__all__ = ["EMPTY_HINT", "KEY_PREFIX", "QUEUE_PREFIX", "RedisConnector"]

log = logging.getLogger("sergeant.redis")

QUEUE_PREFIX = "sergeant:queue:"
KEY_PREFIX = "sergeant:key:"
#: Items per round trip for bulk pushes, and receipts per ack/release/extend call.
PUSH_CHUNK = 5000
RECEIPT_CHUNK = 5000
#: Pops of at least this many items use MAINTAIN + LMPOP instead of the POP script.
_PIPELINED_POP = 32
_QUEUE_CACHE_SIZE = 4096
#: Seconds a node found empty for a queue is visited after the others.
EMPTY_HINT = 0.05
#: ``queue_ack_and_reserve`` sends its acks and reserve together to the node
#: the receipts came from, unless another node has not been asked for items of
#: the queue for this long (so no node's items wait on a busy one's).
FAIR_VISIT = 0.25

T = TypeVar("T")


class _Queue:
    """What the connector keeps per queue: its keys, and on several nodes when
    each node was last found empty and last visited (monotonic seconds)."""

    __slots__ = ("empty_until", "keys", "visited")

    def __init__(self, keys: tuple[str, ...], nodes: int) -> None:
        self.keys = keys
        self.empty_until = [0.0] * nodes
        self.visited = [0.0] * nodes

    def saw(self, node: Node, asked: int, got: int, now: float) -> None:
        """Record a visit to ``node`` that asked for ``asked`` items and got ``got``."""
        self.visited[node.index] = now
        self.empty_until[node.index] = now + EMPTY_HINT if got < asked else 0.0


class RedisConnector(Connector):
    """Sergeant's redis connector: ``RedisConnector(nodes=[{'host': ..., 'port': ...}])``."""

    type_name: ClassVar[str] = "redis"
    capabilities: ClassVar[frozenset[str]] = CAPABILITIES | {MIGRATE_LEGACY}

    def __init__(self, **params: Any) -> None:
        self.node_params: tuple[NodeParams, ...] = parse_nodes(params)
        self.nodes = [Node(index, node) for index, node in enumerate(self.node_params)]
        self._names = node_names(self.node_params)
        self._issued = Issued()
        self._turns = Rotation(self.nodes)
        self._queues: dict[str, _Queue] = {}

    def __repr__(self) -> str:
        nodes = ", ".join(f"{p.identity}" for p in self.node_params)
        return f"RedisConnector(nodes=[{nodes}])"

    # Helpers ----------------------------------------------------------------

    def _queue(self, queue_name: str) -> _Queue:
        queue = self._queues.get(queue_name) if type(queue_name) is str else None
        if queue is None:
            prefix = f"{QUEUE_PREFIX}{check_queue_name(queue_name)}:"
            queue = _Queue(tuple(prefix + part for part in scripts.KEY_PARTS), len(self.nodes))
            if len(self._queues) >= _QUEUE_CACHE_SIZE:
                self._queues.clear()
            self._queues[queue_name] = queue
        return queue

    def _rotation(self, queue: _Queue | None = None) -> list[Node]:
        """Every node, starting from the next in turn: nodes found empty for
        ``queue`` a moment ago come after the others, nodes in back-off last."""
        if queue is None:
            return self._turns.order()
        empty, now = queue.empty_until, time.monotonic()
        return self._turns.order(lambda node: empty[node.index] > now, now)

    def _visit(
        self, what: str, call: Callable[[Node], T], order: Sequence[Node], answered: bool = False
    ) -> Iterator[tuple[Node, T]]:
        """:func:`sergeant.nodes.visit` with this backend's node error."""
        error = functools.partial(_unavailable, what)
        return visit(order, call, unavailable=NodeUnavailableError, error=error, answered=answered)

    def _gather(
        self, what: str, call: Callable[[Node], T], every: bool = False
    ) -> list[tuple[Node, T]]:
        """Every node's answer, in ``nodes`` order (nodes in back-off asked too):
        a node that cannot answer is logged and left out, unless ``every``."""
        return gather(
            self.nodes,
            call,
            unavailable=NodeUnavailableError,
            error=functools.partial(_unavailable, what),
            every=every,
            on_failure=None if every else functools.partial(log.warning, "%s skips %s", what),
        )

    def _owner(self, name: str) -> Node:
        return self.nodes[rendezvous(self._names, name)]

    # Queues -------------------------------------------------------------

    def queue_push(
        self,
        queue_name: str,
        item: bytes,
        priority: Priority = "NORMAL",
        consumable_from: float | None = None,
    ) -> bool:
        check_item(item)
        return self._push(queue_name, [item], priority, consumable_from)

    def queue_push_bulk(
        self,
        queue_name: str,
        items: Iterable[bytes],
        priority: Priority = "NORMAL",
        consumable_from: float | None = None,
    ) -> bool:
        return self._push(queue_name, check_items(items), priority, consumable_from)

    def _push(
        self,
        queue_name: str,
        items: list[bytes],
        priority: Priority,
        consumable_from: float | None,
    ) -> bool:
        queue = self._queue(queue_name)
        keys = queue.keys
        letter = check_priority(priority)[0]
        due = check_consumable_from(consumable_from)
        ready = keys[1] if letter == "H" else keys[3]
        for start in range(0, len(items), PUSH_CHUNK):
            chunk = items[start : start + PUSH_CHUNK]

            def push(node: Node, chunk: list[bytes] = chunk) -> object:
                if due is None:
                    done = node.execute("RPUSH", ready, *chunk)
                else:
                    done = node.script(scripts.PUSH_DELAYED, keys, repr(due), letter, *chunk)
                # not empty any more: our own pops should not put it last
                queue.empty_until[node.index] = 0.0
                return done

            # The next node in turn takes the chunk; if it is down, the first that answers.
            node = self._turns.next()
            if not node.health.is_down():
                try:
                    push(node)
                    continue
                except NodeUnavailableError:
                    pass
            for _ in self._visit("push", push, self._rotation()):
                break
        return True

    def queue_pop(self, queue_name: str) -> bytes | None:
        queue = self._queue(queue_name)
        keys = queue.keys
        nodes = self.nodes
        if len(nodes) == 1:
            item: bytes | None = nodes[0].script(scripts.POP_ONE, keys)
            return item
        # The node in turn first, directly, unless it is down or was just empty.
        now = time.monotonic()
        first = self._turns.next()
        answered = False
        if not first.health.is_down(now) and queue.empty_until[first.index] <= now:
            try:
                item = first.script(scripts.POP_ONE, keys)
            except NodeUnavailableError:
                pass  # now in back-off: the others first, then it again if none answers
            else:
                queue.saw(first, 1, 0 if item is None else 1, now)
                if item is not None:
                    return bytes(item)
                answered = True
        order = [node for node in self._rotation(queue) if not (answered and node is first)]
        for node, got in self._visit(
            "pop", lambda node: node.script(scripts.POP_ONE, keys), order, answered
        ):
            queue.saw(node, 1, 0 if got is None else 1, time.monotonic())
            if got is not None:
                return bytes(got)
        return None

    def queue_pop_bulk(self, queue_name: str, number_of_items: int) -> list[bytes]:
        count = check_count("number_of_items", number_of_items)
        queue = self._queue(queue_name)
        keys = queue.keys
        out: list[bytes] = []

        def pop(node: Node) -> int:
            need = count - len(out)
            if need < _PIPELINED_POP:
                out.extend(node.script(scripts.POP, keys, need))
            else:
                self._pop_from(node, keys, count, out)
            return need

        for node, asked in self._visit("pop", pop, self._rotation(queue)):
            queue.saw(node, asked, asked - (count - len(out)), time.monotonic())
            if len(out) >= count:
                break
        return out

    def _pop_from(self, node: Node, keys: tuple[str, ...], count: int, out: list[bytes]) -> None:
        """Large pops: MAINTAIN plus a native LMPOP per round trip, so the items
        never pass through Lua (which halves throughput). LMPOP takes from the
        first non-empty list only, so repeat while the node still gives items."""
        while len(out) < count:
            need = count - len(out)
            maintained, got = node.pipeline(
                ("EVALSHA", scripts.MAINTAIN.sha, len(keys), *keys, need),
                ("LMPOP", 4, *keys[:4], "LEFT", "COUNT", need),
            )
            if isinstance(maintained, redis.exceptions.NoScriptError):
                node.execute("SCRIPT", "LOAD", scripts.MAINTAIN.source)
            elif isinstance(maintained, Exception):
                raise maintained
            if isinstance(got, Exception):
                raise got
            if not got:
                if isinstance(maintained, redis.exceptions.NoScriptError):
                    continue  # due items may not have been moved yet
                return
            source, items = got
            if source.decode() in (keys[0], keys[2]):
                out.extend(entry.partition(b":")[2] for entry in items)
            else:
                out.extend(items)

    def queue_length(self, queue_name: str, include_delayed: bool = False) -> int:
        keys = self._queue(queue_name).keys
        flag = "1" if include_delayed else "0"
        return sum(
            int(n)
            for _, n in self._visit(
                "queue_length",
                lambda node: node.script(scripts.LENGTH, keys, flag),
                self._rotation(),
            )
        )

    def queue_delete(self, queue_name: str) -> bool:
        keys = self._queue(queue_name).keys
        deleted = self._gather(
            f"queue_delete of {queue_name!r}",
            lambda node: int(node.script(scripts.DELETE, keys)),
            every=True,
        )
        return sum(n for _, n in deleted) > 0

    def queue_stats(self, queue_name: str) -> list[NodeStats]:
        keys = self._queue(queue_name).keys
        answers = self._gather("queue_stats", lambda node: node.script(scripts.STATS, keys))
        return [
            NodeStats(node.params.address, int(ready), int(delayed), int(in_flight))
            for node, (ready, delayed, in_flight) in answers
        ]

    def queue_names(self) -> list[str]:
        """Queues with items on any reachable node: a ``SCAN`` of ``sergeant:queue:*``
        per node (cursor-paged, so the server is never blocked), names taken from
        the keys that hold items (lists, delayed set, leases)."""
        found = self._gather("queue_names", _scan_queue_names)
        return sorted(set().union(*(names for _, names in found)))

    # Reliable delivery --------------------------------------------------

    def queue_reserve(
        self, queue_name: str, number_of_items: int, lease_seconds: float
    ) -> list[Delivery]:
        count = check_count("number_of_items", number_of_items)
        lease = repr(check_positive("lease_seconds", lease_seconds))
        queue = self._queue(queue_name)
        if len(self.nodes) == 1:
            token = new_token()
            items, extra = self.nodes[0].script(scripts.RESERVE, queue.keys, count, lease, token)
            return deliveries(0, token, items, extra, self._issued)
        out: list[Delivery] = []
        self._reserve_on(queue, count, lease, out, self._rotation(queue))
        return out

    def _reserve_on(
        self,
        queue: _Queue,
        count: int,
        lease: str,
        out: list[Delivery],
        order: Sequence[Node],
        answered: bool = False,
    ) -> None:
        """Reserve on the nodes of ``order`` until ``out`` holds ``count`` deliveries."""

        def reserve(node: Node) -> int:
            need = count - len(out)
            token = new_token()
            items, extra = node.script(scripts.RESERVE, queue.keys, need, lease, token)
            out.extend(deliveries(node.index, token, items, extra, self._issued))
            return need

        for node, asked in self._visit("reserve", reserve, order, answered):
            queue.saw(node, asked, asked - (count - len(out)), time.monotonic())
            if len(out) >= count:
                break

    def queue_ack(self, queue_name: str, receipts: Sequence[str]) -> int:
        return self._settle("ack", queue_name, receipts, scripts.ACK)

    def queue_ack_and_reserve(
        self,
        queue_name: str,
        receipts: Sequence[str],
        number_of_items: int,
        lease_seconds: float,
    ) -> tuple[int, list[Delivery]]:
        """Ack ``receipts`` and reserve, in one script call on a node that has
        receipts to ack (acks for other nodes go separately); the reserve then
        continues the rotation if that node had too few items."""
        return self.queue_ack_and_reserve_begin(
            queue_name, receipts, number_of_items, lease_seconds
        )()

    def queue_ack_and_reserve_begin(
        self,
        queue_name: str,
        receipts: Sequence[str],
        number_of_items: int,
        lease_seconds: float,
    ) -> Callable[[], tuple[int, list[Delivery]]]:
        """:meth:`queue_ack_and_reserve` whose combined script call (or, with one
        node and nothing to ack, whose reserve) is sent now and read by the
        returned function."""
        count = check_count("number_of_items", number_of_items)
        lease = repr(check_positive("lease_seconds", lease_seconds))
        grouped = by_node(receipts, len(self.nodes), self._issued)
        queue = self._queue(queue_name)
        target = self._combined_target(queue, grouped)
        if target is None:
            acked = self._settle_grouped("ack", queue, grouped, scripts.ACK)
            if len(self.nodes) > 1:
                out = self.queue_reserve(queue_name, count, lease_seconds)
                return lambda: (acked, out)
            target, script, args = self.nodes[0], scripts.RESERVE, [count, lease]
        else:
            acked = self._settle_grouped(
                "ack", queue, {i: b for i, b in grouped.items() if i != target.index}, scripts.ACK
            )
            script, args = scripts.ACK_RESERVE, [count, lease]
        token = new_token()
        node = target

        def unacked(exc: NodeUnavailableError) -> None:
            """The combined call failed on ``node``: with other nodes to reserve
            from, its acks are reported not done and the reserve goes on."""
            if script is not scripts.ACK_RESERVE or len(self.nodes) == 1:
                raise exc
            count_there = sum(map(len, grouped[node.index].values()))
            log.warning("ack of %d receipts not done: %s", count_there, exc)

        reply: Callable[[], Any] | None = None
        try:
            if script is scripts.ACK_RESERVE:
                *before, last = batch_args(grouped[target.index], RECEIPT_CHUNK, whole=True)
                for chunk in before:
                    acked += int(target.script(scripts.ACK, queue.keys, *chunk))
                args += [token, *last]
            else:
                args.append(token)
            reply = target.script_later(script, queue.keys, *args)
        except NodeUnavailableError as exc:
            unacked(exc)

        def finish() -> tuple[int, list[Delivery]]:
            done = acked
            out: list[Delivery] = []
            answered = False
            if reply is not None:
                try:
                    if script is scripts.ACK_RESERVE:
                        acked_there, items, extra = reply()
                        done += int(acked_there)
                    else:
                        items, extra = reply()
                except NodeUnavailableError as exc:
                    unacked(exc)
                else:
                    out = deliveries(node.index, token, items, extra, self._issued)
                    queue.saw(node, count, len(out), time.monotonic())
                    answered = True
            if len(out) < count and len(self.nodes) > 1:
                others = [n for n in self._rotation(queue) if n is not node]
                self._reserve_on(queue, count, lease, out, others, answered)
            return done, out

        return finish

    def _combined_target(self, queue: _Queue, grouped: dict[int, Any]) -> Node | None:
        """The node that takes the combined call: the one with the most receipts,
        unless it is in back-off (its reserve would wait on it) or another up
        node has waited too long for a visit (then None)."""
        if not grouped:
            return None
        target = self.nodes[max(grouped, key=lambda i: sum(map(len, grouped[i].values())))]
        if len(self.nodes) > 1:
            now = time.monotonic()
            if target.health.is_down(now):
                return None
            for node in self.nodes:
                if (
                    node is not target
                    and now - queue.visited[node.index] > FAIR_VISIT
                    and not node.health.is_down(now)
                ):
                    return None
        return target

    def queue_release(
        self, queue_name: str, receipts: Sequence[str], consumable_from: float | None = None
    ) -> int:
        due = check_consumable_from(consumable_from)
        return self._settle(
            "release", queue_name, receipts, scripts.RELEASE, "" if due is None else repr(due)
        )

    def queue_extend(self, queue_name: str, receipts: Sequence[str], lease_seconds: float) -> int:
        lease = repr(check_positive("lease_seconds", lease_seconds))
        return self._settle("extend", queue_name, receipts, scripts.EXTEND, lease)

    def _settle(
        self,
        what: str,
        queue_name: str,
        receipts: Sequence[str],
        script: scripts.Script,
        *args: str,
    ) -> int:
        grouped = by_node(receipts, len(self.nodes), self._issued)
        return self._settle_grouped(what, self._queue(queue_name), grouped, script, *args)

    def _settle_grouped(
        self,
        what: str,
        queue: _Queue,
        grouped: dict[int, dict[str, list[str]]],
        script: scripts.Script,
        *args: str,
    ) -> int:
        """Send each node its receipts, grouped by reserve call; count the live ones.

        A node that cannot be reached settles nothing: its leases run out and
        the items are handed out again, as if the caller had crashed.
        """
        done = 0
        for index, batches in grouped.items():
            node = self.nodes[index]
            try:
                for chunk in batch_args(batches, RECEIPT_CHUNK, whole=script is scripts.ACK):
                    done += int(node.script(script, queue.keys, *args, *chunk))
            except NodeUnavailableError as exc:
                count = sum(map(len, batches.values()))
                log.warning("%s of %d receipts not done: %s", what, count, exc)
        return done

    # Keys ---------------------------------------------------------------

    def key_set(self, key: str, value: bytes) -> bool:
        check_item(value, "value")
        name = check_name(key, "key")
        # SET .. GET is Sergeant's GETSET: overwrite, and say whether there was a value
        return self._owner(name).execute("SET", KEY_PREFIX + name, value, "GET") is None

    def key_get(self, key: str) -> bytes | None:
        name = check_name(key, "key")
        value = self._owner(name).execute("GET", KEY_PREFIX + name)
        return None if value is None else bytes(value)

    def key_delete(self, key: str) -> bool:
        name = check_name(key, "key")
        return bool(self._owner(name).execute("DEL", KEY_PREFIX + name))

    # Locks --------------------------------------------------------------

    def lock(self, name: str) -> Lock:
        checked = check_name(name, "name")
        return RedisLock(checked, lambda: self._owner(checked))

    # Upgrading from Sergeant 0.27.0 -----------------------------------------

    def migrate_legacy(
        self,
        queues: Sequence[str] | None = None,
        *,
        keys: str | bool = True,
        dry_run: bool = False,
        progress: Callable[[int], None] | None = None,
    ) -> LegacyReport:
        """Move Sergeant 0.27.0's queues (and the keys matching ``keys``, a glob)
        into ours (see :mod:`sergeant_redis.legacy`); ``keys=True`` moves none."""
        if queues is not None:
            queues = [check_queue_name(name) for name in queues]
        return legacy.migrate(self, queues, keys, dry_run, progress)

    # Lifecycle ----------------------------------------------------------

    def close(self) -> None:
        for node in self.nodes:
            node.close()


#: Key suffixes that hold items: a queue with any of them is listed by ``queue_names``.
_ITEM_PARTS = tuple(f":{part}".encode() for part in scripts.KEY_PARTS[:6])
_SCAN_COUNT = 1000


def _scan_queue_names(node: Node) -> set[str]:
    names: set[str] = set()
    prefix = QUEUE_PREFIX.encode()
    cursor: bytes | int = 0
    while True:
        cursor, keys = node.execute(
            "SCAN", cursor, "MATCH", QUEUE_PREFIX + "*", "COUNT", _SCAN_COUNT
        )
        for key in keys:
            body = bytes(key)[len(prefix) :]
            for part in _ITEM_PARTS:
                if body.endswith(part) and len(body) > len(part):
                    names.add(body[: -len(part)].decode("utf-8", "replace"))
                    break
        if int(cursor) == 0:
            return names


def _unavailable(what: str, failures: Sequence[NodeUnavailableError]) -> ConnectorUnavailableError:
    reasons = "; ".join(f"{exc.node.label}: {exc.reason}" for exc in failures)
    return ConnectorUnavailableError(f"no redis node answered the {what}: {reasons}")
