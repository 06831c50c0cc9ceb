"""In the supervisor: keep alive the leases of a worker process whose own renewal stalled.

A worker process renews its leases on a thread, which a task in C code that
never releases the GIL (``sum(range(10**9))``, a long regex, a C extension)
starves: its leases would run out and another process would run the same task at
the same time. Each supervised process therefore publishes its held receipts
and a heartbeat in its lease block (:mod:`sergeant._lease_block`). A thread of
the supervisor, with a connector of its own (built from the worker class's
config when the supervisor starts, so it is ready before the first task; a
failure then is reported only once a worker process has started its work loop,
i.e. the class loads), checks every block a few times
a second: when a process's heartbeat is older than half its lease, the
supervisor extends that process's receipts, every third of a lease, until the
heartbeat resumes. A process that ended is forgotten at once; a bad block or a
storage error is logged and never stops the supervisor. A connector whose storage
is gone (:class:`~sergeant.errors.StorageGoneError`: its file was replaced, and
the worker processes started since use the new one) is dropped, and the next
round connects anew.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable

import attrs

from sergeant._lease_block import LeaseBlock, LeaseBlockError, LeaseState
from sergeant.connector import Connector
from sergeant.errors import StorageGoneError

__all__ = ["LeaseGuard", "worker_connector"]

_TICK = 0.1
#: After a failed attempt to build the connector, wait this long before the next.
_CONNECT_RETRY = 10.0
#: The same complaint about one process is logged at most this often.
_COMPLAIN_EVERY = 30.0


def worker_connector(module: str, class_name: str) -> Callable[[], Connector]:
    """A factory of connectors built from ``module:class_name``'s ``generate_config()``
    (the class is loaded and instantiated in the supervisor; nothing else runs)."""

    def build() -> Connector:
        from sergeant._connect import connect
        from sergeant.worker._child import load_worker_class

        cwd = os.getcwd()
        if cwd not in sys.path:  # the worker processes, run with -m, import from here
            sys.path.append(cwd)
        worker = load_worker_class(module, class_name)()
        return connect(worker.config.connector)

    return build


@attrs.define
class _Watched:
    block: LeaseBlock
    alive: Callable[[], bool]
    pid: int
    extended_at: float = 0.0
    stalled: bool = False
    complained_at: float = float("-inf")


class LeaseGuard:
    """Renews the published leases of stalled worker processes, on a thread.

    :param connect: builds the supervisor's connector (called when first needed).
    """

    def __init__(self, connect: Callable[[], Connector], logger: logging.Logger) -> None:
        self._connect = connect
        self.logger = logger
        self.connector: Connector | None = None
        self._connect_after = 0.0
        self._watched: dict[int, _Watched] = {}
        self._guard = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sergeant-lease-guard", daemon=True)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def close(self) -> None:
        """Stop watching and close the connector (a storage call in progress is not awaited
        beyond a few seconds)."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(5.0)
        if self.connector is not None and not self._thread.is_alive():
            try:
                self.connector.close()
            except Exception as exc:
                self.logger.warning("could not close the lease guard's connector: %s", exc)

    def watch(self, key: int, block: LeaseBlock, alive: Callable[[], bool], pid: int) -> None:
        """Watch one worker process's block until :meth:`forget`."""
        with self._guard:
            self._watched[key] = _Watched(block, alive, pid)

    def forget(self, key: int) -> None:
        """The process ended: never renew its receipts again (its block may be closed next)."""
        with self._guard:
            self._watched.pop(key, None)

    def _run(self) -> None:
        self._connector(time.monotonic(), quiet=True)
        while not self._stopped.wait(_TICK):
            try:
                self.check(time.monotonic())
            except Exception:  # never let the guard die: it would renew nothing
                self.logger.exception("the lease guard failed a round")

    def check(self, now: float) -> int:
        """One round: renew the leases of every stalled process; how many were renewed."""
        with self._guard:
            keys = list(self._watched)
        renewed = 0
        for key in keys:
            with self._guard:  # forget() and the block's close wait for this read
                watched = self._watched.get(key)
                if watched is None:
                    continue
                state = self._read(watched, now)
            if state is None:  # not working yet
                continue
            connector = self._connector(now)
            if connector is None or not state.receipts:
                continue
            stale = now - state.heartbeat > state.lease_seconds / 2
            if not stale:
                watched.stalled = False
                continue
            if now - watched.extended_at < state.lease_seconds / 3:
                continue
            if not watched.alive():  # ended but not yet forgotten
                continue
            if not watched.stalled:
                watched.stalled = True
                self.logger.warning(
                    "worker process %d has not renewed its leases for %.1fs (a task holding"
                    " the GIL?): the supervisor renews its %d leases meanwhile",
                    watched.pid,
                    now - state.heartbeat,
                    len(state.receipts),
                )
            watched.extended_at = now
            renewed += self._extend(connector, watched, state, now)
        return renewed

    def _read(self, watched: _Watched, now: float) -> LeaseState | None:
        try:
            return watched.block.read()
        except (LeaseBlockError, ValueError, OSError) as exc:
            self._complain(
                watched, now, "cannot read the lease block of worker process %d: %s", exc
            )
            return None

    def _extend(
        self, connector: Connector, watched: _Watched, state: LeaseState, now: float
    ) -> int:
        try:
            return connector.queue_extend(state.queue, state.receipts, state.lease_seconds)
        except StorageGoneError as exc:  # e.g. its file replaced: the workers use the new one
            self._complain(watched, now, "could not renew the leases of worker process %d: %s", exc)
            self._drop_connector()
            return 0
        except Exception as exc:  # a storage error, or a receipt the connector refuses
            self._complain(watched, now, "could not renew the leases of worker process %d: %s", exc)
            return 0

    def _complain(self, watched: _Watched, now: float, message: str, exc: Exception) -> None:
        if now - watched.complained_at >= _COMPLAIN_EVERY:
            watched.complained_at = now
            self.logger.error(message, watched.pid, exc)

    def _drop_connector(self) -> None:
        """Forget a connector whose storage is gone: the next round connects anew."""
        connector, self.connector = self.connector, None
        if connector is not None:
            try:
                connector.close()
            except Exception as exc:
                self.logger.warning("could not close the lease guard's connector: %s", exc)

    def _connector(self, now: float, quiet: bool = False) -> Connector | None:
        if self.connector is None and now >= self._connect_after:
            try:
                self.connector = self._connect()
            except BaseException as exc:  # user code: anything, even SystemExit
                if isinstance(exc, KeyboardInterrupt):
                    raise
                if quiet:  # the worker class may not load at all: its processes say so
                    return None
                self._connect_after = now + _CONNECT_RETRY
                self.logger.error(
                    "the supervisor cannot connect to renew stalled workers' leases"
                    " (retrying in %gs): %s",
                    _CONNECT_RETRY,
                    exc,
                )
        return self.connector
