"""Sergeant 0.27.0's keys on the same redis-servers, moved into ours (``sergeant migrate``).

Sergeant 0.27.0 kept, on each node (see :mod:`sergeant_redis.connector` for ours):

``<queue>``
    a list, handed out from the left: NORMAL items were appended on the right,
    HIGH ones on the left. The list records no priority, only the order.
``<queue>.delayed``
    a sorted set, score = ``consumable_from``, member = the item.
``<key>`` and ``__lock__.<name>``
    keys and locks under their bare names, among any other data of the database
    (on the node ``crc32(name) % len(nodes)``).

A queue moves node by node, where it lies, with :data:`MOVE_QUEUE`: one script
call takes a batch from the old list (else from the old sorted set) and writes
it to ours, so each item is in exactly one place at every moment. List items
keep their order and join our NORMAL list (old HIGH items stay ahead of the old
NORMAL ones); delayed items keep their due time. Keys move only when asked for
by pattern (they cannot be told from other data): on one node with one script,
else copied with ``SET NX`` to the node ours hashes them to and then deleted
from the old node only if unchanged, so a crash in between is finished by the
next run. Locks are counted, not moved: each frees itself.

With no queue names, queues are found by ``SCAN`` (lists, and sorted sets named
``*.delayed``, outside our ``sergeant:`` prefix) and moved only if their first
item is a Sergeant task; the others are left and reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from sergeant.legacy import (
    LegacyQueue,
    LegacyReport,
    held_locks_notes,
    is_sergeant_task,
    merge_queues,
    move_in_batches,
    refused_names_note,
    usable_queue_names,
)

from sergeant_redis.node import Node
from sergeant_redis.scripts import load

if TYPE_CHECKING:
    from sergeant_redis.connector import RedisConnector

__all__ = ["BATCH", "MOVE_KEY", "MOVE_QUEUE", "migrate"]

#: Items per script call.
BATCH = 1000
OUR_PREFIX = "sergeant:"
LOCK_PREFIX = "__lock__."
DELAYED_SUFFIX = ".delayed"

#: The scripts (``lua/legacy_*.lua``; each file's header says its KEYS, ARGV and reply).
MOVE_QUEUE = load("legacy_move_queue")
MOVE_KEY = load("legacy_move_key")
DROP_IF_SAME = load("legacy_drop_if_same")


def _scan(node: Node, match: str, kind: str) -> Iterator[str]:
    cursor = b"0"
    while True:
        cursor, names = node.execute("SCAN", cursor, "MATCH", match, "COUNT", 1000, "TYPE", kind)
        for raw in names:
            name = raw.decode("utf-8", "surrogateescape")
            if not name.startswith(OUR_PREFIX):
                yield name
        if cursor in (b"0", 0, "0"):
            return


def _raw(name: str) -> bytes:
    """The key's bytes as the server has them (names that are not UTF-8 included)."""
    return name.encode("utf-8", "surrogateescape")


def _find_queues(connector: RedisConnector) -> tuple[list[str], list[str]]:
    """Every queue of Sergeant's layout on any node, and lists left for not holding its tasks."""
    found: dict[str, bool] = {}
    for node in connector.nodes:
        for name in _scan(node, "*", "list"):
            if not name.startswith(LOCK_PREFIX):
                first = node.execute("LINDEX", _raw(name), 0)
                found[name] = found.get(name, False) or (
                    first is not None and is_sergeant_task(bytes(first))
                )
        for key in _scan(node, f"*{DELAYED_SUFFIX}", "zset"):
            first = node.execute("ZRANGE", _raw(key), 0, 0)
            name = key[: -len(DELAYED_SUFFIX)]
            found[name] = found.get(name, False) or (
                bool(first) and is_sergeant_task(bytes(first[0]))
            )
    return [n for n, ok in found.items() if ok], [n for n, ok in found.items() if not ok]


def _count(node: Node, name: str) -> tuple[LegacyQueue, list[bytes]]:
    listed, delayed, first, first_delayed = node.pipeline(
        ("LLEN", name),
        ("ZCARD", name + DELAYED_SUFFIX),
        ("LINDEX", name, 0),
        ("ZRANGE", name + DELAYED_SUFFIX, 0, 0),
    )
    for reply in (listed, delayed, first, first_delayed):
        if isinstance(reply, Exception):  # a key of another type under the name
            return LegacyQueue(name), []
    samples = ([bytes(first)] if first is not None else []) + [bytes(v) for v in first_delayed]
    return LegacyQueue(name, int(listed), 0, int(delayed)), samples


def migrate(
    connector: RedisConnector,
    queues: Sequence[str] | None,
    keys: str | bool,
    dry_run: bool,
    progress: Callable[[int], None] | None,
) -> LegacyReport:
    """Move (or count, with ``dry_run``) Sergeant 0.27.0's queues and matching keys."""
    notes: list[str] = []
    if queues is None:
        listed, left = _find_queues(connector)
        names, refused = usable_queue_names(listed)
        notes.extend(refused_names_note(refused))
        if left:
            shown = ", ".join(repr(n) for n in sorted(left)[:5])
            notes.append(
                f"{len(left)} lists outside sergeant:* do not hold Sergeant tasks and were left"
                f" ({shown}{', ...' if len(left) > 5 else ''}); name one as QUEUE to move it"
            )
    else:
        names = list(queues)
    counted: list[LegacyQueue] = []
    samples: list[bytes] = []
    done = 0
    for name in names:
        ours = connector._queue(name).keys
        for node in connector.nodes:
            found, sampled = _count(node, name)
            samples.extend(sampled)
            if not found.total:
                continue
            if not dry_run:
                found = _move_queue(node, name, ours, found.total, done, progress)
            counted.append(found)
            done += found.total
    if any(queue.ready for queue in counted):
        notes.append(
            "Sergeant's Redis lists kept no priority, only the order: their HIGH tasks keep"
            " their place ahead of the old NORMAL ones, and all join the NORMAL list"
        )
    key_count = 0
    conflicts: tuple[str, ...] = ()
    if isinstance(keys, str):
        key_count, conflicts = _move_keys(connector, keys, dry_run)
    elif keys:
        notes.append(
            "Redis keys move only with --keys PATTERN (Python: keys='PATTERN'): Sergeant"
            " stored them under their bare names, among any other data"
        )
    locks = 0
    if queues is None:
        locks = sum(len(list(_scan(node, f"{LOCK_PREFIX}*", "string"))) for node in connector.nodes)
        notes.extend(held_locks_notes(locks))
    return LegacyReport(
        merge_queues(counted), key_count, conflicts, locks, tuple(samples), tuple(notes)
    )


def _move_queue(
    node: Node,
    name: str,
    ours: tuple[str, ...],
    bound: int,
    done: int,
    progress: Callable[[int], None] | None,
) -> LegacyQueue:
    """Move batches until the node's old queue is empty or ``bound`` items (what it
    held when counted) have moved (:func:`sergeant.legacy.move_in_batches`)."""
    keys = (name, name + DELAYED_SUFFIX, ours[3], ours[4], ours[7], ours[8])

    def move_batch() -> LegacyQueue:
        listed, delayed = node.script(MOVE_QUEUE, keys, BATCH)
        return LegacyQueue(name, int(listed), 0, int(delayed))

    return move_in_batches(name, move_batch, BATCH, bound, done, progress)


def _move_keys(
    connector: RedisConnector, pattern: str, dry_run: bool
) -> tuple[int, tuple[str, ...]]:
    """Move the old string keys matching ``pattern``: ``(moved, names left for a conflict)``."""
    from sergeant_redis.connector import KEY_PREFIX

    moved, conflicts = 0, []
    for node in connector.nodes:
        for name in list(_scan(node, pattern, "string")):
            if name.startswith(LOCK_PREFIX):
                continue
            target = connector._owner(name)
            ours = KEY_PREFIX + name
            if dry_run:
                old, new = node.execute("GET", name), target.execute("GET", ours)
                if new is not None and old is not None and bytes(new) != bytes(old):
                    conflicts.append(name)
                moved += new is None and old is not None
                continue
            if target is node:
                outcome = int(node.script(MOVE_KEY, (name, ours)))
            else:
                outcome = _move_across(node, target, name, ours)
            moved += outcome == 1
            if outcome == -1:
                conflicts.append(name)
    return moved, tuple(conflicts)


def _move_across(node: Node, target: Node, name: str, ours: str) -> int:
    """:data:`MOVE_KEY`'s outcome for a key that moves to another node: copied
    first, then dropped from ``node`` only if nobody changed it meanwhile."""
    old = node.execute("GET", name)
    if old is None:
        return -2
    if target.execute("SET", ours, old, "NX"):
        outcome = 1
    elif target.execute("GET", ours) == old:
        outcome = 0
    else:
        return -1
    node.script(DROP_IF_SAME, (name,), old)
    return outcome
