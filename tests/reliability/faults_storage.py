"""Storage faults for the ``local`` backend: a disk that fills up, and a push killed mid-call.

The disk is a real, small filesystem when this machine lets us mount one (a
``tmpfs`` of a few MiB, which we are root enough to mount in the sandbox and in
CI); it fills with a ballast file and frees by deleting it, as when an operator
removes old logs. Where mounting is refused (or with
``SERGEANT_TEST_DISK_FULL=page_count``), SQLite's ``max_page_count`` caps the
connector's own connection instead: the same ``SQLITE_FULL`` from SQLite's
point of view, but only for that one connection.

The torn-write child (``faults_push_child.py``) and the parent share
:func:`batch_items`, so the parent knows byte for byte what a committed batch is.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

__all__ = [
    "PageCapDisk",
    "SmallDisk",
    "TmpfsDisk",
    "batch_items",
    "checkpoint",
    "integrity",
    "random_items",
    "small_disk",
]

_CHUNK = 64 * 1024


class SmallDisk(Protocol):
    """A place for the database file whose space can run out and come back."""

    #: How the fault is made, for the report (``"tmpfs of 4 MiB"``...).
    kind: str
    #: The folder the database file goes in.
    folder: Path

    def fill(self, connection: sqlite3.Connection | None, leave: int = 0) -> None:
        """Use up the space but ``leave`` bytes (``connection``: the connector's, for the cap)."""

    def free(self, connection: sqlite3.Connection | None) -> None:
        """Give the space back."""


class TmpfsDisk:
    """A mounted tmpfs; :meth:`fill` writes a ballast file until ``ENOSPC``."""

    def __init__(self, folder: Path, size_bytes: int) -> None:
        self.folder = folder
        self.kind = f"a real {size_bytes // 2**20} MiB tmpfs filled by a ballast file"
        self.ballast = folder / "ballast"

    def fill(self, connection: sqlite3.Connection | None = None, leave: int = 0) -> None:
        chunk = b"\0" * _CHUNK
        with open(self.ballast, "ab", buffering=0) as out:
            try:
                while True:
                    out.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
            # Page-sized tail: leave no room even for a single SQLite page.
            with contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * 512)
            if leave:
                out.truncate(max(out.tell() - leave, 0))

    def free(self, connection: sqlite3.Connection | None = None) -> None:
        self.ballast.unlink(missing_ok=True)


class PageCapDisk:
    """Fallback: ``PRAGMA max_page_count`` on the connector's connection."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.kind = "SQLite max_page_count on the connector's connection (mounting refused)"

    def fill(self, connection: sqlite3.Connection | None, leave: int = 0) -> None:
        assert connection is not None, "the page cap needs the connector's connection"
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages + leave // page_size}")

    def free(self, connection: sqlite3.Connection | None) -> None:
        assert connection is not None, "the page cap needs the connector's connection"
        connection.execute("PRAGMA max_page_count = 1073741823")


def _mount_tmpfs(folder: Path, size_bytes: int) -> bool:
    if os.name != "posix" or os.geteuid() != 0:
        return False
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0700", "tmpfs", str(folder)],
            check=True,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return os.path.ismount(folder)


def _unmount(folder: Path) -> None:
    for options in ([], ["-l"]):  # lazy as a last resort: a killed child may hold a file
        done = subprocess.run(
            ["umount", *options, str(folder)], capture_output=True, timeout=30, check=False
        )
        if done.returncode == 0:
            return
    raise RuntimeError(f"could not unmount the test tmpfs at {folder}")


@contextlib.contextmanager
def small_disk(base: Path, size_bytes: int) -> Iterator[SmallDisk]:
    """A small disk under ``base``: a tmpfs if mounting works here, else the page cap."""
    folder = base / "small-disk"
    folder.mkdir()
    forced = os.environ.get("SERGEANT_TEST_DISK_FULL") == "page_count"  # to test the fallback
    if forced or not _mount_tmpfs(folder, size_bytes):
        yield PageCapDisk(folder)
        return
    try:
        yield TmpfsDisk(folder, size_bytes)
    finally:
        _unmount(folder)


def random_items(rng: random.Random, count: int, max_size: int) -> list[bytes]:
    """``count`` items of random bytes (not UTF-8 as a rule), some empty, each tagged unique."""
    tag = rng.randbytes(8).hex()
    out = []
    for index in range(count):
        size = rng.choice((0, 1, rng.randrange(max_size + 1)))
        out.append(f"{tag}-{index}|".encode() + rng.randbytes(size))
    return out


def batch_items(batch: int, count: int, size: int) -> list[bytes]:
    """The items of torn-write batch ``batch``: tagged with batch and index, random tail."""
    rng = random.Random(batch)
    out = []
    for index in range(count):
        head = f"batch {batch} item {index:05d}|".encode()
        out.append(head + rng.randbytes(max(size - len(head), 0)))
    return out


def integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` of the file, from a fresh plain sqlite3 connection."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()
    return "; ".join(str(row[0]) for row in rows)


def checkpoint(path: Path) -> None:
    """Move the WAL into the database file and truncate the WAL to zero bytes."""
    conn = sqlite3.connect(path)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.close()
    if busy:
        raise RuntimeError(f"could not checkpoint {path}: a connection still holds it")
