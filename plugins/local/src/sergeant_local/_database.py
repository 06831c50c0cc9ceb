"""SQLite connections of one connector (one per thread), with busy retries.

Each thread that uses a connector gets its own connection, closed when the
thread ends or the connector closes (with four to eight threads, ~1.3x faster
than one connection behind a lock: threads wait inside SQLite, which releases
the GIL).

Every call runs one SQL statement in autocommit mode, or one ``BEGIN
IMMEDIATE`` transaction (:meth:`Database.write`). A single write statement takes
SQLite's write lock before it reads, so it never upgrades a stale read snapshot,
the cause of ``database is locked`` errors that SQLite's busy handler cannot
wait out. Whatever ``SQLITE_BUSY`` escapes the busy handler is retried here with
backoff until ``busy_timeout_seconds``; other SQLite errors become
:class:`~sergeant.errors.StorageError` naming the file.

A file deleted (or replaced) under open connections is no error to SQLite: they
go on using the unlinked file while a process opening the path gets a new, empty
one, and the queue is split without a word. So the file's device and inode,
taken at open, are compared with the path's before a call at most every
:data:`CHECK_FILE_EVERY` seconds, and after every write: a write that reached a
deleted or replaced file raises rather than reporting success for data no
process will see again (an ``os.stat`` costs ~3 us).
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sergeant.errors import ConfigError, ConnectorUnavailableError, StorageError, StorageGoneError

from sergeant_local.params import default_file_path
from sergeant_local.schema import MIGRATIONS, SCHEMA, SCHEMA_VERSION

__all__ = ["CHECK_FILE_EVERY", "Database", "resolve_path"]

T = TypeVar("T")

_monotonic = time.monotonic
#: The tables of a file's schema, but SQLite's own.
_TABLES = (
    "SELECT name, (SELECT group_concat(name) FROM pragma_table_info(m.name)) FROM sqlite_master m"
    " WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
)
#: Sergeant 0.27.0's tables and their columns: a file holding them is migrated, not
#: refused (a ``keys`` table of other columns is another application's).
_LEGACY_TABLES = {
    "task_queue": {"queue_name", "priority", "value"},
    "keys": {"name", "value"},
    "locks": {"name", "expireAt"},
}
_MIN_SQLITE = (3, 35, 0)
#: Seconds between two checks that ``file_path`` is still the file the connector
#: opened: calls in that window after a deletion still reach the unlinked file.
CHECK_FILE_EVERY = 0.1
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_HINTS = {
    sqlite3.SQLITE_NOTADB: "is not a SQLite database; point file_path at a new file "
    "or move this one away",
    sqlite3.SQLITE_CORRUPT: "is corrupt; restore it from a backup or point file_path at a new file",
    sqlite3.SQLITE_READONLY: "cannot be written; make the file and its folder writable "
    "(SQLite creates -wal and -shm files next to it)",
    sqlite3.SQLITE_CANTOPEN: "cannot be opened; make sure file_path names a file in a "
    "writable folder",
    sqlite3.SQLITE_PERM: "cannot be accessed; check the file's permissions",
    sqlite3.SQLITE_FULL: "cannot grow: the disk is full; free space or move file_path",
    sqlite3.SQLITE_IOERR: "failed with an I/O error; check the disk and the filesystem",
    sqlite3.SQLITE_IOERR_SHORT_READ: "cannot be read whole: was its -wal file deleted while "
    "a process had it open? Stop every process using it (the last to close writes its data "
    "back), then start them again",
    sqlite3.SQLITE_TOOBIG: "refused a value larger than SQLite's limit (1 GB); store "
    "large payloads elsewhere and queue a reference",
}

# Connections inherited through fork() belong to the parent; the child must not
# use or close them, so it keeps them referenced here and opens its own.
_LIVE: weakref.WeakSet[Database] = weakref.WeakSet()
_INHERITED: list[sqlite3.Connection] = []


class _Connection(sqlite3.Connection):
    """A connection that can be weakly referenced, so a connector can find its threads' ones.

    ``in_use`` is held while its thread runs SQL on it: :meth:`Database.close`,
    from another thread, waits for it (closing a connection in the middle of
    another thread's statement crashes CPython's sqlite3 module).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.in_use = threading.Lock()


class _PerThread(threading.local):
    conn: _Connection | None = None


def _forget_inherited_connections() -> None:
    for database in list(_LIVE):
        database._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_connections)


def resolve_path(file_path: str | os.PathLike[str] | None) -> str:
    """The absolute database path for the ``file_path`` param, or ConfigError saying why not."""
    given = default_file_path() if file_path is None else os.fspath(file_path)
    try:
        path = Path(os.path.abspath(os.path.expanduser(given)))
    except OSError:  # os.getcwd() fails once the current folder is deleted
        fix = "is relative and the current folder was deleted; give an absolute path"
        raise ConfigError("file_path", given, fix) from None
    if file_path is None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create the folder {path.parent} for the default sergeant-local "
                f"database ({exc.strerror}); pass params={{'file_path': ...}}"
            ) from exc
    parent, problem = path.parent, None
    try:
        if path.is_dir():
            problem = f"{path} is a folder; name a file inside it, e.g. {path / 'sergeant.sqlite3'}"
        elif given.endswith(("/", os.sep)):
            problem = f"names a folder (a trailing slash); name a file in it: {path / 'q.sqlite3'}"
        elif path.exists() and not path.is_file():
            problem = f"{path} is a device, FIFO or socket, not a file; name a database file"
        elif not parent.exists():
            problem = (
                f"the folder {parent} does not exist; create it (mkdir -p {parent}) "
                "or choose another file_path"
            )
        elif not parent.is_dir():
            problem = f"{parent} is a file, not a folder; choose a path inside a folder"
    except OSError as exc:  # e.g. a name too long for the filesystem
        problem = f"cannot be used ({exc.strerror}); choose another file_path"
    if problem:
        raise ConfigError("file_path", given, problem)
    return str(path)


def _transaction(conn: sqlite3.Connection, op: Callable[[sqlite3.Connection], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = op(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # the first error is the one to report
                conn.execute("ROLLBACK")
        raise
    return result


class Database:
    """Connections to one file, one per thread, so threads can share a connector."""

    def __init__(self, path: str, busy_timeout: float, synchronous: str) -> None:
        self.path = path
        self._busy_timeout = busy_timeout
        self._synchronous = synchronous
        self._closed = False
        self._guard = threading.Lock()  # guards _all and _closed, never a query
        self._all: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._local = _PerThread()
        self._local.conn = self._open()  # fail at construction if the file is unusable
        self._all.add(self._local.conn)
        self._identity = self._file_identity()
        self._check_at = time.monotonic() + CHECK_FILE_EVERY
        _LIVE.add(self)

    def rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """Run one statement; its result rows (all fetched, so it has committed)."""
        return self._run(lambda conn: conn.execute(sql, params).fetchall(), wrote=False)

    def changes(self, sql: str, params: Sequence[Any]) -> int:
        """Run one write statement; how many rows it changed."""
        return self._run(lambda conn: conn.execute(sql, params).rowcount, wrote=True)

    def write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """``op(connection)`` inside one ``BEGIN IMMEDIATE`` transaction; its result.

        ``op`` may run again (after a rollback) while another process holds the
        write lock, so it must not change anything outside the database.
        """
        return self._run(lambda conn: _transaction(conn, op), wrote=True)

    def _run(self, op: Callable[[sqlite3.Connection], T], wrote: bool) -> T:
        """Every call's hot path: ``op`` on this thread's connection, busy retried."""
        started = _monotonic()
        if started >= self._check_at:
            self._check_file()
        conn = self._local.conn or self._thread_connection()
        with conn.in_use:
            try:
                result = op(conn)
            except sqlite3.Error as exc:
                result = self._retry(exc, op, conn, started)
        if wrote:
            self._check_file()  # a write that went to a deleted file must fail, not vanish
        return result

    def close(self) -> None:
        """Close every thread's connection; later calls fail with StorageError. Idempotent."""
        with self._guard:
            self._closed = True
            conns = list(self._all)
            self._all = weakref.WeakSet()
        for conn in conns:
            with conn.in_use, contextlib.suppress(sqlite3.Error):  # committed data is safe
                conn.close()

    def _file_identity(self) -> tuple[int, int]:
        try:
            found = os.stat(self.path)
        except OSError as exc:
            raise self._moved("was deleted") from exc
        return found.st_dev, found.st_ino

    def _check_file(self) -> None:
        """Raise StorageError if ``file_path`` is no longer the file this connector opened."""
        if self._file_identity() != self._identity:
            raise self._moved("was replaced by another file")
        self._check_at = _monotonic() + CHECK_FILE_EVERY

    def _moved(self, what: str) -> StorageGoneError:
        return StorageGoneError(
            f"sergeant-local database file_path {self.path} {what} while this connector "
            "had it open; its connections would go on using the old file unseen by any "
            "process opening the path now, so this connector stops: create a new "
            "connector (or restart the worker) to use the file now at that path"
        )

    def _retry(
        self,
        exc: sqlite3.Error,
        op: Callable[[sqlite3.Connection], T],
        conn: sqlite3.Connection,
        started: float,
    ) -> T:
        """``op`` again until it gets past ``SQLITE_BUSY``, within ``busy_timeout``
        of ``started`` (SQLite's busy handler may have waited most of it already)."""
        deadline = started + self._busy_timeout
        delay = 0.0005
        while True:
            if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in _BUSY_CODES:
                raise self._error(exc) from exc
            if time.monotonic() >= deadline:
                raise ConnectorUnavailableError(
                    f"sergeant-local database {self.path} stayed locked for "
                    f"{self._busy_timeout:g}s (sqlite: {exc}); another process holds a long "
                    "write transaction; raise busy_timeout_seconds or find that process"
                ) from exc
            time.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 0.05)
            try:
                return op(conn)
            except sqlite3.Error as again:
                exc = again

    def _error(self, exc: sqlite3.Error) -> StorageError:
        if isinstance(exc, sqlite3.ProgrammingError) and self._closed:
            return self._closed_error()
        code = getattr(exc, "sqlite_errorcode", 0)
        code = code if code in _HINTS else code & 0xFF
        hint = f"{_HINTS[code]} (sqlite: {exc})" if code in _HINTS else f"failed (sqlite: {exc})"
        return StorageError(f"sergeant-local database {self.path} {hint}")

    def _closed_error(self) -> StorageError:
        return StorageError(
            f"this sergeant-local connector for {self.path} is closed; create a new one"
        )

    def _thread_connection(self) -> _Connection:
        with self._guard:
            if self._closed:
                raise self._closed_error()
            conn = self._open()
            self._all.add(conn)
        self._local.conn = conn
        self._check_file()  # a new connection must open the connector's file, not a newer one
        return conn

    def _open(self) -> _Connection:
        if sqlite3.sqlite_version_info < _MIN_SQLITE:
            raise StorageError(
                f"sergeant-local needs SQLite 3.35 or newer (for RETURNING); this Python "
                f"links SQLite {sqlite3.sqlite_version}: use a newer Python build"
            )
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,  # so close() can close every thread's connection
                cached_statements=64,
                factory=_Connection,
            )
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        try:
            started = time.monotonic()
            try:
                self._prepare(conn)
            except sqlite3.Error as exc:
                self._retry(exc, self._prepare, conn, started)
        except BaseException:
            conn.close()
            raise
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            self._refuse_foreign(conn, version)
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StorageError(
                f"sergeant-local database {self.path} cannot use WAL (journal_mode is {mode}); "
                "put file_path on a local filesystem"
            )
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            _transaction(conn, self._migrate)

    def _refuse_foreign(self, conn: sqlite3.Connection, version: int) -> None:
        """Raise if the file holds another application's tables (checked before
        the file is changed at all, and again under the write lock)."""
        tables = {name: set(str(columns).split(",")) for name, columns in conn.execute(_TABLES)}
        ours = {name for name in tables if name.startswith("sergeant_")}
        legacy = {name for name, columns in tables.items() if _LEGACY_TABLES.get(name) == columns}
        foreign = sorted(tables.keys() - ours - legacy)
        if foreign or (version and not ours):
            shown = ", ".join(foreign[:5]) or f"user_version {version}, none of sergeant's"
            raise StorageError(
                f"sergeant-local database {self.path} holds another application's tables "
                f"({shown}); point file_path at a file of sergeant's own"
            )

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Bring the file to this schema version (read again under the write lock:
        another process may have just done it)."""
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        self._refuse_foreign(conn, version)
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"sergeant-local database {self.path} has schema version {version}, newer "
                f"than this sergeant-local ({SCHEMA_VERSION}); upgrade sergeant-local"
            )
        for statement in (SCHEMA + MIGRATIONS.get(version, "")).split(";"):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _forget_after_fork(self) -> None:
        _INHERITED.extend(self._all)
        self._all = weakref.WeakSet()
        self._local = _PerThread()
        self._guard = threading.Lock()
