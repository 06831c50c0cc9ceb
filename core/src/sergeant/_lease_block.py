"""The leases a supervised worker process holds, shared with its supervisor through a small file.

The worker writes: its queue, ``lease_seconds``, the receipts it holds (published
as soon as a batch is reserved, before any of it runs) and a heartbeat, the
``time.monotonic()`` of its lease-renewal thread's last round. The supervisor
reads: when the heartbeat stalls (a task in C code that never releases the GIL
starves that thread), it renews those receipts itself (see
:mod:`sergeant._lease_guard`).

Both processes read ``time.monotonic()``: on Linux that is CLOCK_MONOTONIC, one
clock for the whole system (not per process) that wall-clock steps do not move,
so a heartbeat written by one process is comparable in the other.

Layout: a 32-byte header (magic, sequence, heartbeat, lease seconds, queue
length, receipts length), the queue name, then the receipts joined by NUL, all
UTF-8. Writers bump the sequence to an odd number before writing and to the next
even one after; a reader retries until it sees the same even number before and
after its copy (a seqlock), so it never acts on a half-written block.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Collection

import attrs

__all__ = ["LEASE_ENV", "LeaseBlock", "LeaseBlockError", "LeaseState"]

#: Environment variable naming the lease file of a supervised worker process.
LEASE_ENV = "SERGEANT_WORKER_LEASE_FILE"

_MAGIC = 0x53474C31  # "SGL1"
_HEADER = struct.Struct("<IIddII")
_SEQ = struct.Struct("<I")
_SEQ_AT = 4
_BEAT = struct.Struct("<d")
_BEAT_AT = 8
_SIZE = struct.Struct("<I")
_SIZE_AT = 28
#: The file is sparse: only the pages written take memory or disk.
CAPACITY = 8 * 2**20
_READ_ATTEMPTS = 200


class LeaseBlockError(Exception):
    """A lease file that does not hold a consistent block."""


@attrs.frozen
class LeaseState:
    """What one worker process last published."""

    queue: str
    lease_seconds: float
    heartbeat: float
    receipts: list[str]


class LeaseBlock:
    """One worker process's lease file (the worker writes, the supervisor reads)."""

    def __init__(self, path: str, capacity: int = CAPACITY) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < capacity:
                os.ftruncate(fd, capacity)
            self._map = mmap.mmap(fd, capacity)
        finally:
            os.close(fd)
        self.capacity = capacity
        self._seq = 0
        self._data_at = _HEADER.size
        self._queue = b""

    @classmethod
    def from_env(cls) -> LeaseBlock | None:
        """The block named by :data:`LEASE_ENV` (None when not supervised)."""
        path = os.environ.get(LEASE_ENV)
        return cls(path) if path else None

    # The worker's side (callers serialize these) ------------------------------

    def _begin(self) -> None:
        self._seq = (self._seq + 1) | 1
        _SEQ.pack_into(self._map, _SEQ_AT, self._seq)

    def _end(self) -> None:
        self._seq += 1
        _SEQ.pack_into(self._map, _SEQ_AT, self._seq)

    def start(self, queue: str, lease_seconds: float, heartbeat: float) -> None:
        """Name the queue and lease length; no receipts held yet."""
        self._queue = queue.encode()
        self._data_at = _HEADER.size + len(self._queue)
        self._begin()
        try:
            self._map[_HEADER.size : self._data_at] = self._queue
            _HEADER.pack_into(
                self._map, 0, _MAGIC, self._seq, heartbeat, lease_seconds, len(self._queue), 0
            )
        finally:
            self._end()

    def publish(self, receipts: Collection[str]) -> bool:
        """Replace the published receipts; False (and none published) when they
        do not fit or one holds a NUL. On the hot path: one call per batch."""
        data = "\0".join(receipts).encode()
        size = len(data)
        fits = self._data_at + size <= self.capacity and (
            not receipts or data.count(0) == len(receipts) - 1
        )
        if not fits:
            data, size = b"", 0
        mapped, seq = self._map, (self._seq + 1) | 1
        _SEQ.pack_into(mapped, _SEQ_AT, seq)
        mapped[self._data_at : self._data_at + size] = data
        _SIZE.pack_into(mapped, _SIZE_AT, size)
        self._seq = seq + 1
        _SEQ.pack_into(mapped, _SEQ_AT, seq + 1)
        return fits

    def beat(self, heartbeat: float) -> None:
        """The renewal thread ran at ``heartbeat`` (``time.monotonic()``)."""
        self._begin()
        try:
            _BEAT.pack_into(self._map, _BEAT_AT, heartbeat)
        finally:
            self._end()

    # The supervisor's side ---------------------------------------------------

    def read(self) -> LeaseState | None:
        """The last consistent block (None before the worker started it).

        :raises LeaseBlockError: the block is inconsistent or unreadable.
        """
        for _ in range(_READ_ATTEMPTS):
            before = _SEQ.unpack_from(self._map, _SEQ_AT)[0]
            if before & 1:
                continue
            magic, _, heartbeat, lease_seconds, queue_len, data_len = _HEADER.unpack_from(
                self._map, 0
            )
            if magic != _MAGIC:
                if magic == 0:
                    return None
                raise LeaseBlockError(f"bad magic number {magic:#x}")
            end = _HEADER.size + queue_len + data_len
            if end > self.capacity:
                raise LeaseBlockError(f"lengths past the end of the block ({end} bytes)")
            raw = self._map[_HEADER.size : end]
            if _SEQ.unpack_from(self._map, _SEQ_AT)[0] != before:
                continue
            try:
                queue = raw[:queue_len].decode()
                data = raw[queue_len:].decode()
            except UnicodeDecodeError as exc:
                raise LeaseBlockError(f"not UTF-8: {exc}") from None
            receipts = data.split("\0") if data else []
            return LeaseState(queue, lease_seconds, heartbeat, receipts)
        raise LeaseBlockError("the worker kept writing it (or died halfway through a write)")

    def close(self) -> None:
        """Unmap the file (it stays on disk for the supervisor to remove)."""
        self._map.close()
