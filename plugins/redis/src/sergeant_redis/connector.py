"""The ``redis`` connector: queues, keys and locks on independent redis-servers.

Nodes
    ``nodes`` lists independent servers (not a cluster). Pushes rotate across
    them (a bulk push, chunk by chunk); pops and reserves visit every node,
    starting from a rotating one, before answering empty; a node that was
    empty for the queue a moment ago (:data:`EMPTY_HINT`) is visited after the
    others, never skipped. ``queue_length`` sums over nodes. A node that is
    down is skipped until its back-off ends (see :mod:`sergeant_redis.node`);
    when it returns its items are consumed again. Pushes pass over a full one
    (``maxmemory``) too while another has room; pops and reserves drain it.
    If no node answers, :class:`~sergeant.errors.ConnectorUnavailableError`. Keys and locks live on
    the node chosen by rendezvous hashing of their name over the nodes' names
    (``name``, else the position in ``nodes``: never the host as spelled); if
    that node is down they raise, naming it. Rotation, back-off, visits and
    hashing are :mod:`sergeant.nodes`'.

Key layout
    One prefix per queue (``sergeant:queue:<name>:``), so ``queue_delete``
    leaves nothing behind; ``sergeant:key:<key>`` and ``sergeant:lock:<name>``
    for keys and locks. The README's "Key layout" section is the one full
    description (checked against a live server by ``tests/test_key_layout.py``).

Time
    Leases, due times and lock expiry use the server's clock (``TIME`` inside
    the scripts, key TTLs for locks). ``consumable_from``, a date on the
    client's wall clock, is sent as the delay it means there and added to the
    server's time by the script, so a retry's delay from a worker whose clock
    is off still waits that long.

Scripts
    Every multi-step operation is one Lua script call per node visited
    (:mod:`sergeant_redis.scripts`). Due delayed items and expired leases are
    moved back to the lists by the pops and reserves themselves; no daemon.
    ``queue_ack_and_reserve`` acks and reserves in one script call on a node.

Receipts
    ``<node index>:<token>:<n>`` (:mod:`sergeant_redis.receipts`): acks,
    releases and extends go to the node the item came from, grouped by call.
    A reserve's :class:`~sergeant.connector.Batch` carries that grouping as its
    handle, so acking a whole batch parses no receipt.

Arguments
    :class:`~sergeant.connector.Connector` checks every argument of the public
    methods and calls the ``do_*`` primitives below with clean values.
"""

from __future__ import annotations

import functools
import logging
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, TypeVar

import redis.exceptions
from sergeant.connector import (
    ACK_AND_RESERVE,
    BASIC,
    PEEK,
    PREFETCH,
    Batch,
    Connector,
    Lock,
    NodeStats,
    Priority,
    Receipts,
    push_in_chunks,
)
from sergeant.errors import ConnectorUnavailableError, StorageError
from sergeant.legacy import MIGRATE_LEGACY, LegacyReport
from sergeant.nodes import Rotation, gather, rendezvous, visit

from sergeant_redis import legacy, scripts
from sergeant_redis.lock import RedisLock
from sergeant_redis.node import Node, NodeFullError, NodeUnavailableError, Roster
from sergeant_redis.params import NodeParams, node_names, parse_nodes
from sergeant_redis.receipts import Grouped, add_call, batch_args, by_node, new_token

__all__ = ["EMPTY_HINT", "KEY_PREFIX", "QUEUE_PREFIX", "RedisConnector"]

log = logging.getLogger("sergeant.redis")

QUEUE_PREFIX = "sergeant:queue:"
KEY_PREFIX = "sergeant:key:"
#: The largest item redis-server takes by default (``proto-max-bulk-len``); a
#: larger one would make it drop the connection mid-push.
MAX_ITEM_BYTES = 512 * 2**20
#: Items per round trip for bulk pushes, and receipts per ack/release/extend call.
PUSH_CHUNK = 5000
RECEIPT_CHUNK = 5000
#: Pops of at least this many items use MAINTAIN + LMPOP instead of the POP
#: script, and reserves of as many copy fresh items natively (the items never
#: pass through Lua).
_BULK = 32
_QUEUE_CACHE_SIZE = 4096
#: Seconds a node found empty for a queue is visited after the others.
EMPTY_HINT = 0.05
#: Seconds a bulk pop may skip MAINTAIN on a node after it said nothing falls
#: due sooner; a delayed item stored meanwhile by another client and due within
#: them is popped at most this late.
MAINTAIN_SKIP = 0.05
#: ``queue_ack_and_reserve`` sends its acks and reserve together to the node
#: the receipts came from, unless another node has not been asked for items of
#: the queue for this long (so no node's items wait on a busy one's).
FAIR_VISIT = 0.25

T = TypeVar("T")


class _Queue:
    """What the connector keeps per queue: its keys, and per node when it was
    last found empty, last visited, and until when a bulk pop need not move due
    items there first (monotonic seconds)."""

    __slots__ = ("empty_until", "keys", "maintained_until", "visited")

    def __init__(self, keys: tuple[str, ...], nodes: int) -> None:
        self.keys = keys
        self.empty_until = [0.0] * nodes
        self.visited = [0.0] * nodes
        self.maintained_until = [0.0] * nodes

    def saw(self, node: Node, asked: int, got: int, now: float) -> None:
        """Record a visit to ``node`` that asked for ``asked`` items and got ``got``."""
        self.visited[node.index] = now
        self.empty_until[node.index] = now + EMPTY_HINT if got < asked else 0.0


class RedisConnector(Connector):
    """Sergeant's redis connector: ``RedisConnector(nodes=[{'host': ..., 'port': ...}])``."""

    type_name: ClassVar[str] = "redis"
    capabilities: ClassVar[frozenset[str]] = BASIC | {
        ACK_AND_RESERVE,
        PREFETCH,
        PEEK,
        MIGRATE_LEGACY,
    }
    max_item_bytes: ClassVar[int | None] = MAX_ITEM_BYTES

    def __new__(cls, **params: Any) -> RedisConnector:
        # params={'cluster': {...}}: a Redis Cluster (sergeant_redis.cluster)
        if cls is RedisConnector and "cluster" in params:
            from sergeant_redis.cluster import ClusterConnector

            return super().__new__(ClusterConnector)
        return super().__new__(cls)

    def __init__(self, **params: Any) -> None:
        self.node_params: tuple[NodeParams, ...] = parse_nodes(params)
        roster = Roster(secrets.token_hex(8), self.node_params)
        self.nodes = [Node(index, node, roster) for index, node in enumerate(self.node_params)]
        self._names = node_names(self.node_params)
        self._turns = Rotation(self.nodes)
        self._queues: dict[str, _Queue] = {}

    def __repr__(self) -> str:
        nodes = ", ".join(f"{p.identity}" for p in self.node_params)
        return f"RedisConnector(nodes=[{nodes}])"

    # Helpers ----------------------------------------------------------------

    def _queue(self, queue_name: str) -> _Queue:
        queue = self._queues.get(queue_name)
        if queue is None:
            prefix = f"{QUEUE_PREFIX}{queue_name}:"
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

    def do_push(
        self, queue_name: str, items: list[bytes], priority: Priority, consumable_from: float | None
    ) -> None:
        queue = self._queue(queue_name)
        keys = queue.keys
        letter = priority[0]
        ready = keys[1] if letter == "H" else keys[3]

        def push(node: Node, chunk: list[bytes]) -> None:
            try:
                if consumable_from is None:
                    node.execute("RPUSH", ready, *chunk)
                else:
                    delay = repr(consumable_from - time.time())
                    node.script(scripts.PUSH_DELAYED, keys, delay, letter, *chunk)
                    queue.maintained_until[node.index] = 0.0  # ours may fall due soon
            except NodeFullError:
                node.room.failed()
                raise
            node.room.succeeded()
            # not empty any more: our own pops should not put it last
            queue.empty_until[node.index] = 0.0

        def push_chunk(chunk: list[bytes]) -> None:
            # The next node in turn takes the chunk; if it is down or full, the
            # first that takes it (full nodes after the others, down ones last).
            down: list[NodeUnavailableError] = []
            full: list[NodeFullError] = []

            def took(node: Node) -> bool:
                try:
                    push(node, chunk)
                    return True
                except NodeUnavailableError as exc:
                    down.append(exc)
                except NodeFullError as exc:
                    full.append(exc)
                return False

            first, now = self._turns.next(), time.monotonic()
            if not (first.health.is_down(now) or first.room.is_down(now)) and took(first):
                return
            # The first, if it failed, comes again last (a lost reply: a new
            # connection may take it), unless it said it is full.
            first_full = bool(full)
            for node in self._turns.order(lambda node: node.room.is_down(now), now):
                if not (node is first and first_full) and took(node):
                    return
            if not full:
                raise _unavailable("push", down)
            if len(full) == 1 and not down:
                raise full[0]
            reasons = "; ".join(map(str, [*full, *down]))
            raise StorageError(f"no redis node took the push: {reasons}") from full[0]

        push_in_chunks(items, PUSH_CHUNK, push_chunk)

    def do_pop(self, queue_name: str, count: int) -> list[bytes]:
        queue = self._queue(queue_name)
        if count == 1:
            item = self._pop_one(queue)
            return [] if item is None else [item]
        keys = queue.keys
        out: list[bytes] = []

        def pop(node: Node) -> int:
            need = count - len(out)
            if need < _BULK:
                out.extend(node.script(scripts.POP, keys, need))
            else:
                self._pop_from(node, queue, count, out)
            return need

        for node, asked in self._visit("pop", pop, self._rotation(queue)):
            queue.saw(node, asked, asked - (count - len(out)), time.monotonic())
            if len(out) >= count:
                break
        return out

    def _pop_one(self, queue: _Queue) -> bytes | None:
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

    def _pop_from(self, node: Node, queue: _Queue, count: int, out: list[bytes]) -> None:
        """Large pops: MAINTAIN plus a native LMPOP per round trip, so the items
        never pass through Lua (which halves throughput); MAINTAIN is left out
        while the node's last answer says nothing falls due (for at most
        :data:`MAINTAIN_SKIP`). LMPOP takes from the first non-empty list only,
        so repeat while the node still gives items."""
        keys = queue.keys
        while len(out) < count:
            need = count - len(out)
            lmpop = ("LMPOP", 4, *keys[:4], "LEFT", "COUNT", need)
            sent = time.monotonic()
            if sent < queue.maintained_until[node.index]:
                maintained: Any = None
                (got,) = node.pipeline(lmpop)
            else:
                maintained, got = node.pipeline(
                    ("EVALSHA", scripts.MAINTAIN.sha, len(keys), *keys, need), lmpop
                )
            if isinstance(maintained, redis.exceptions.NoScriptError):
                node.execute("SCRIPT", "LOAD", scripts.MAINTAIN.source)
            elif isinstance(maintained, Exception):
                raise maintained
            elif isinstance(maintained, int):
                quiet = min(maintained / 1000, MAINTAIN_SKIP)
                queue.maintained_until[node.index] = sent + quiet
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

    def do_peek(self, queue_name: str, count: int) -> list[bytes]:
        """Each node in the order a reserve visits them: MAINTAIN (due delayed
        items and expired leases back to the lists, as a reserve would), then
        the heads of its four lists in hand-out order. Nothing is taken."""
        queue = self._queue(queue_name)
        keys = queue.keys
        out: list[bytes] = []

        def peek(node: Node) -> None:
            need = count - len(out)
            node.script(scripts.MAINTAIN, keys, need)
            lists = node.pipeline(*(("LRANGE", key, 0, need - 1) for key in keys[:4]))
            for retry, got in zip((True, False, True, False), lists, strict=True):
                if isinstance(got, Exception):
                    raise got
                items = [entry.partition(b":")[2] for entry in got] if retry else got
                out.extend(items[: count - len(out)])

        for _ in self._visit("peek", peek, self._rotation(queue)):
            if len(out) >= count:
                break
        return out

    def do_length(self, queue_name: str, include_delayed: bool) -> int:
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

    def do_delete(self, queue_name: str) -> bool:
        keys = self._queue(queue_name).keys
        deleted = self._gather(
            f"queue_delete of {queue_name!r}",
            lambda node: int(node.script(scripts.DELETE, keys)),
            every=True,
        )
        return sum(n for _, n in deleted) > 0

    def do_stats(self, queue_name: str) -> list[NodeStats]:
        keys = self._queue(queue_name).keys
        answers = self._gather("queue_stats", lambda node: node.script(scripts.STATS, keys))
        return [
            NodeStats(node.params.address, int(ready), int(delayed), int(in_flight))
            for node, (ready, delayed, in_flight) in answers
        ]

    def do_queue_names(self) -> set[str]:
        """Queues with items on any reachable node: a ``SCAN`` of ``sergeant:queue:*``
        per node (cursor-paged, so the server is never blocked), names taken from
        the keys that hold items (lists, delayed set, leases)."""
        found = self._gather("queue_names", _scan_queue_names)
        return set().union(*(names for _, names in found))

    # Reliable delivery --------------------------------------------------
    #
    # A Batch's handle is its receipts grouped by node and call (each call a
    # WholeCall, see sergeant_redis.receipts): acking the batch's own receipts
    # parses none and acks each call as a whole.

    def do_reserve(self, queue_name: str, count: int, lease_seconds: float) -> Batch:
        lease = repr(lease_seconds)
        queue = self._queue(queue_name)
        batch = Batch((), {})
        if len(self.nodes) == 1:
            token = new_token()
            add_call(batch, 0, token, *_reserve_call(self.nodes[0], queue, count, lease, token))
        else:
            self._reserve_on(queue, count, lease, batch, self._rotation(queue))
        return batch

    def _reserve_on(
        self,
        queue: _Queue,
        count: int,
        lease: str,
        batch: Batch,
        order: Sequence[Node],
        answered: bool = False,
    ) -> None:
        """Reserve on the nodes of ``order`` until ``batch`` holds ``count`` deliveries."""

        def reserve(node: Node) -> int:
            need = count - len(batch)
            token = new_token()
            add_call(batch, node.index, token, *_reserve_call(node, queue, need, lease, token))
            return need

        for node, asked in self._visit("reserve", reserve, order, answered):
            queue.saw(node, asked, asked - (count - len(batch)), time.monotonic())
            if len(batch) >= count:
                break

    def do_ack(self, queue_name: str, receipts: Receipts) -> int:
        return self._settle("ack", queue_name, receipts, scripts.ACK)

    def do_release(self, queue_name: str, receipts: Receipts, consumable_from: float | None) -> int:
        delay = "" if consumable_from is None else repr(consumable_from - time.time())
        if delay:  # the released items may fall due before our bulk pops would look
            self._queue(queue_name).maintained_until[:] = [0.0] * len(self.nodes)
        return self._settle("release", queue_name, receipts, scripts.RELEASE, delay)

    def do_extend(self, queue_name: str, receipts: Receipts, lease_seconds: float) -> int:
        return self._settle("extend", queue_name, receipts, scripts.EXTEND, repr(lease_seconds))

    def do_ack_and_reserve(
        self, queue_name: str, receipts: Receipts, count: int, lease_seconds: float
    ) -> tuple[int, Batch]:
        """Ack ``receipts`` and reserve, in one script call on a node that has
        receipts to ack (acks for other nodes go separately); the reserve then
        continues the rotation if that node had too few items."""
        return self.do_ack_and_reserve_begin(queue_name, receipts, count, lease_seconds)()

    def do_ack_and_reserve_begin(
        self, queue_name: str, receipts: Receipts, count: int, lease_seconds: float
    ) -> Callable[[], tuple[int, Batch]]:
        """:meth:`do_ack_and_reserve` whose combined script call (or, with one
        node and nothing to ack, whose reserve) is sent now and read by the
        returned function."""
        lease = repr(lease_seconds)
        grouped = by_node(receipts, len(self.nodes))
        queue = self._queue(queue_name)
        target = self._combined_target(queue, grouped)
        if target is None:
            acked = self._settle_grouped("ack", queue, grouped, scripts.ACK)
            if len(self.nodes) > 1:
                batch = self.do_reserve(queue_name, count, lease_seconds)
                return lambda: (acked, batch)
            target, script = self.nodes[0], scripts.RESERVE
        else:
            acked = self._settle_grouped(
                "ack", queue, {i: b for i, b in grouped.items() if i != target.index}, scripts.ACK
            )
            script = scripts.ACK_RESERVE
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
        head: Callable[[], Any] | None = None
        try:
            acks: list[Any] = []
            if script is scripts.ACK_RESERVE:
                *before, acks = batch_args(grouped[target.index], RECEIPT_CHUNK, whole=True)
                for chunk in before:
                    acked += int(target.script(scripts.ACK, queue.keys, *chunk))
            reply, head = _send_reserve(target, script, queue, count, lease, token, acks)
        except NodeUnavailableError as exc:
            unacked(exc)

        def finish() -> tuple[int, Batch]:
            done = acked
            batch = Batch((), {})
            answered = False
            if reply is not None:
                try:
                    if script is scripts.ACK_RESERVE:
                        acked_there, *reserved = reply()
                        done += int(acked_there)
                    else:
                        reserved = reply()
                    items, extra = _reserved(node, queue.keys, token, reserved, head)
                except NodeUnavailableError as exc:
                    unacked(exc)
                else:
                    add_call(batch, node.index, token, items, extra)
                    queue.saw(node, count, len(batch), time.monotonic())
                    answered = True
            if len(batch) < count and len(self.nodes) > 1:
                others = [n for n in self._rotation(queue) if n is not node]
                self._reserve_on(queue, count, lease, batch, others, answered)
            return done, batch

        return finish

    def _combined_target(self, queue: _Queue, grouped: Grouped) -> Node | None:
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

    def _settle(
        self,
        what: str,
        queue_name: str,
        receipts: Receipts,
        script: scripts.Script,
        *args: str,
    ) -> int:
        grouped = by_node(receipts, len(self.nodes))
        return self._settle_grouped(what, self._queue(queue_name), grouped, script, *args)

    def _settle_grouped(
        self,
        what: str,
        queue: _Queue,
        grouped: Grouped,
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

    def do_key_set(self, key: str, value: bytes) -> bool:
        # SET .. GET is Sergeant's GETSET: overwrite, and say whether there was a value
        return self._owner(key).execute("SET", KEY_PREFIX + key, value, "GET") is None

    def do_key_get(self, key: str) -> bytes | None:
        value = self._owner(key).execute("GET", KEY_PREFIX + key)
        return None if value is None else bytes(value)

    def do_key_delete(self, key: str) -> bool:
        return bool(self._owner(key).execute("DEL", KEY_PREFIX + key))

    # Locks --------------------------------------------------------------

    def do_lock(self, name: str) -> Lock:
        return RedisLock(name, lambda: self._owner(name))

    # Upgrading from Sergeant 0.27.0 -----------------------------------------

    def do_migrate_legacy(
        self,
        queues: list[str] | None,
        keys: str | bool,
        dry_run: bool,
        progress: Callable[[int], None] | None,
    ) -> LegacyReport:
        """Move Sergeant 0.27.0's queues (and the keys matching ``keys``, a glob)
        into ours (see :mod:`sergeant_redis.legacy`); ``keys=True`` moves none."""
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


def _copy(node: Node, count: int) -> str:
    """The reserve script's copy argument: copy natively where the node allows
    the :data:`~sergeant_redis.permissions.OPTIONAL` commands and the batch is
    large enough to repay the ``LRANGE`` round trip."""
    return "1" if node.native_copy and count >= _BULK else "0"


def _send_reserve(
    node: Node,
    script: scripts.Script,
    queue: _Queue,
    count: int,
    lease: str,
    token: str,
    acks: Sequence[Any] = (),
) -> tuple[Callable[[], Any], Callable[[], Any] | None]:
    """Send a reserve script call (``RESERVE``, or ``ACK_RESERVE`` with its
    ``acks`` arguments) and, when it may copy, the ``LRANGE`` of the copied
    items right behind it (one round trip for both): the functions that read
    the two replies (the second None when nothing can be copied)."""
    copy = _copy(node, count)
    reply = node.script_later(script, queue.keys, count, lease, token, copy, *acks)
    if copy == "0":
        return reply, None
    return reply, node.command_later("LRANGE", f"{queue.keys[5]}:{token}", 0, count - 1)


def _reserve_call(
    node: Node, queue: _Queue, count: int, lease: str, token: str
) -> tuple[list[bytes], list[int]]:
    """One reserve script call on ``node`` (and the read of what it copied, in
    the same round trip); its items and deliveries."""
    reply, head = _send_reserve(node, scripts.RESERVE, queue, count, lease, token)
    return _reserved(node, queue.keys, token, reply(), head)


def _reserved(
    node: Node,
    keys: Sequence[str],
    token: str,
    reply: Sequence[Any],
    head: Callable[[], Any] | None = None,
) -> tuple[list[bytes], list[int]]:
    """A reserve script's items and deliveries; the items it copied into the
    call's group natively come first, read from there (by ``head``, an
    ``LRANGE`` sent right behind the script, else now)."""
    items, extra, copied = reply
    copied = int(copied)
    if copied:
        got = head() if head is not None else []
        if len(got) < copied:  # not sent, or it ran first (the script was reloaded)
            got = node.execute("LRANGE", f"{keys[5]}:{token}", 0, copied - 1)
        got = got[:copied]
        if len(got) != copied:
            # The lease ran out before this read and every item of the call went
            # back to the lists: it hands out nothing (they are handed out again).
            return [], []
        items = [*got, *items]
    return items, extra


def _unavailable(what: str, failures: Sequence[NodeUnavailableError]) -> ConnectorUnavailableError:
    reasons = "; ".join(f"{exc.node.label}: {exc.reason}" for exc in failures)
    return ConnectorUnavailableError(f"no redis node answered the {what}: {reasons}")
