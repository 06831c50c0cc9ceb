"""Moving what Sergeant 0.27.0 stored into this project's layout (``sergeant migrate``).

Sergeant 0.27.0 kept its queues, keys and locks under other names than ours
(Redis: the list ``<queue>`` and the sorted set ``<queue>.delayed``; SQLite: the
``task_queue`` and ``keys`` tables), so a worker of ours does not see tasks an
old producer queued. A backend that can move them declares the capability
:data:`MIGRATE_LEGACY` and implements :meth:`sergeant.connector.Connector.migrate_legacy`,
which answers with a :class:`LegacyReport`; this module holds that report and
:func:`sniff_payload`, which tells how a Sergeant payload was encoded without
decoding it (pickles are never loaded).
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs
import msgpack

from sergeant.errors import ConfigError
from sergeant.validation import check_queue_name

__all__ = [
    "MIGRATE_LEGACY",
    "LegacyQueue",
    "LegacyReport",
    "encoder_advice",
    "encodings_of",
    "held_locks_notes",
    "is_sergeant_task",
    "merge_queues",
    "move_in_batches",
    "refused_names_note",
    "sniff_payload",
    "usable_queue_names",
]

#: The capability a connector declares when it implements ``migrate_legacy``.
MIGRATE_LEGACY = "migrate_legacy"

#: Bytes decompressed at most to look at a payload (a compression bomb stops here).
_SNIFF_BYTES = 1 << 20


@attrs.frozen
class LegacyQueue:
    """One queue in Sergeant 0.27.0's layout: what was (or, in a dry run, would be) moved.

    :ivar name: the queue (a worker's ``config.name``).
    :ivar ready: items consumable now, HIGH and NORMAL.
    :ivar high: how many of ``ready`` are known to be HIGH (0 where the old layout
        did not record it, as Sergeant's Redis lists did not).
    :ivar delayed: items pushed with ``consumable_from``; their due time is kept.
    """

    name: str
    ready: int = 0
    high: int = 0
    delayed: int = 0

    @property
    def total(self) -> int:
        """Every item of the queue."""
        return self.ready + self.delayed

    def __add__(self, other: LegacyQueue) -> LegacyQueue:
        ready, high = self.ready + other.ready, self.high + other.high
        return LegacyQueue(self.name, ready, high, self.delayed + other.delayed)


@attrs.frozen
class LegacyReport:
    """What :meth:`~sergeant.connector.Connector.migrate_legacy` moved, or would move.

    :ivar queues: per queue, the items moved (or found, in a dry run).
    :ivar keys: keys moved (or found).
    :ivar key_conflicts: keys left in the old layout because ours already holds a
        different value under the name (decide, then delete one of them).
    :ivar locks: locks still held in the old layout (not moved: they free themselves).
    :ivar samples: a few payloads as stored, for :func:`sniff_payload`.
    :ivar notes: what the backend wants the user to know, one sentence each.
    """

    queues: tuple[LegacyQueue, ...] = ()
    keys: int = 0
    key_conflicts: tuple[str, ...] = ()
    locks: int = 0
    samples: tuple[bytes, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def items(self) -> int:
        """Every queue item of the report."""
        return sum(queue.total for queue in self.queues)

    def queue(self, name: str) -> LegacyQueue:
        """The entry of ``name`` (all zero when the report has none)."""
        found = LegacyQueue(name)
        for queue in self.queues:
            if queue.name == name:
                found = found + queue
        return found

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (samples summarised by :func:`sniff_payload`)."""
        return {
            "queues": {
                q.name: {"ready": q.ready, "high": q.high, "delayed": q.delayed, "total": q.total}
                for q in self.queues
            },
            "items": self.items,
            "keys": self.keys,
            "key_conflicts": list(self.key_conflicts),
            "locks": self.locks,
            "encodings": [
                {"serializer": s, "compressor": c} for s, c in encodings_of(self.samples)
            ],
            "notes": list(self.notes),
        }


def held_locks_notes(locks: int) -> tuple[str, ...]:
    """The report's note on ``locks`` Sergeant 0.27.0 locks still held (none if 0)."""
    if not locks:
        return ()
    return (
        f"{locks} Sergeant 0.27.0 locks are held: locks are not moved (each frees itself),"
        " so old and new workers do not exclude each other while both run",
    )


def move_in_batches(
    name: str,
    move_batch: Callable[[], LegacyQueue],
    batch: int,
    bound: int,
    done: int,
    progress: Callable[[int], None] | None,
) -> LegacyQueue:
    """Call ``move_batch`` (one batch of at most ``batch`` items of the old queue
    ``name`` moved into ours) until a batch comes short or ``bound`` items (what
    the queue held when counted) have moved, so a busy old producer cannot keep
    one run going. ``progress`` gets ``done`` plus the items moved so far."""
    total = LegacyQueue(name)
    while total.total < bound:
        got = move_batch()
        total = total + got
        if progress is not None and got.total:
            progress(done + total.total)
        if got.total < batch:
            break
    return total


def merge_queues(queues: Iterable[LegacyQueue]) -> tuple[LegacyQueue, ...]:
    """One entry per queue name, in first-seen order, counts summed."""
    merged: dict[str, LegacyQueue] = {}
    for queue in queues:
        merged[queue.name] = merged[queue.name] + queue if queue.name in merged else queue
    return tuple(merged.values())


def _decompress(data: bytes) -> tuple[str | None, bytes]:
    """The compressor Sergeant used (by its magic bytes) and up to 1 MiB of the plain bytes."""
    try:
        if data[:3] == b"BZh":
            return "bzip2", bz2.BZ2Decompressor().decompress(data, _SNIFF_BYTES)
        if data[:6] == b"\xfd7zXZ\x00":
            return "lzma", lzma.LZMADecompressor().decompress(data, _SNIFF_BYTES)
        if data[:2] == b"\x1f\x8b":
            return "gzip", zlib.decompressobj(wbits=31).decompress(data, _SNIFF_BYTES)
        if len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0:
            return "zlib", zlib.decompressobj().decompress(data, _SNIFF_BYTES)
    except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error):
        pass
    return None, data


def sniff_payload(data: bytes) -> tuple[str, str | None] | None:
    """``(serializer, compressor)`` of a payload Sergeant 0.27.0 wrote, or None if unknown.

    Nothing is unpickled: a pickle is recognised by its protocol header alone.
    """
    compressor, plain = _decompress(data)
    if len(plain) >= 2 and plain[0] == 0x80 and 2 <= plain[1] <= 5:
        return "pickle", compressor
    try:
        msgpack.unpackb(plain, raw=False, strict_map_key=False)
    except Exception:
        return None
    return "msgpack", compressor


def is_sergeant_task(data: bytes) -> bool:
    """True when ``data`` looks like a task Sergeant 0.27.0 encoded (any serializer
    and compressor it had): a pickle naming ``sergeant.objects``, or the msgpack
    map ``{'__task__': ...}``. Nothing is unpickled."""
    _, plain = _decompress(data)
    if len(plain) >= 2 and plain[0] == 0x80 and 2 <= plain[1] <= 5:
        return b"sergeant.objects" in plain[:256]
    try:
        value = msgpack.unpackb(plain, raw=False, strict_map_key=False)
    except Exception:
        return False
    return isinstance(value, dict) and "__task__" in value


def encodings_of(samples: Iterable[bytes]) -> list[tuple[str, str | None]]:
    """The distinct encodings :func:`sniff_payload` finds among ``samples``."""
    found: list[tuple[str, str | None]] = []
    for sample in samples:
        encoding = sniff_payload(sample)
        if encoding is not None and encoding not in found:
            found.append(encoding)
    return found


def encoder_advice(samples: Iterable[bytes]) -> list[str]:
    """What the workers' ``Encoder`` must say to read the moved payloads, one line each."""
    advice = []
    for serializer, compressor in encodings_of(samples):
        setting = f"serializer={serializer!r}" + (
            f", compressor={compressor!r}" if compressor else ""
        )
        if serializer == "pickle":
            advice.append(
                f"payloads are pickled (Sergeant's default serializer"
                f"{', compressed with ' + compressor if compressor else ''}): the workers that"
                f" consume them need sergeant.config.Encoder({setting}). Pickle is never the"
                " default here, because unpickling runs code chosen by whoever pushed the task:"
                " opt in only if every producer is trusted"
            )
        elif compressor:
            advice.append(
                f"payloads are msgpack compressed with {compressor}: the workers need"
                f" sergeant.config.Encoder({setting})"
            )
    return advice


def usable_queue_names(found: Iterable[str]) -> tuple[list[str], list[str]]:
    """Split queue names found in Sergeant 0.27.0's storage into those this
    sergeant can serve and those it refuses (empty, too long, not text...):
    moving the latter would strand their items under a name no worker can use."""
    usable, refused = [], []
    for name in found:
        try:
            usable.append(check_queue_name(name))
        except ConfigError:
            refused.append(name)
    return usable, refused


def refused_names_note(refused: Sequence[str]) -> tuple[str, ...]:
    """The report's note for queues left behind by :func:`usable_queue_names`."""
    if not refused:
        return ()
    shown = ", ".join(repr(name)[:60] for name in refused[:5])
    more = ", ..." if len(refused) > 5 else ""
    return (
        f"{len(refused)} queues were left in the old layout: their names are not usable"
        f" queue names here ({shown}{more}); drain them with Sergeant 0.27.0",
    )
