"""Keep the leases of reserved tasks alive while this worker still holds them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from sergeant._lease_block import LeaseBlock
from sergeant.broker import Broker
from sergeant.errors import SergeantError

__all__ = ["LeaseKeeper"]


class LeaseKeeper:
    """Renews every held receipt each third of the lease, on a background thread.

    A task that runs for an hour is thus never handed to another worker, while a
    worker that dies stops renewing and its tasks come back after one lease.

    A task in C code that never releases the GIL starves this thread. Under the
    supervisor, the held receipts are therefore also published in the process's
    lease block (``block``; by default the one :data:`sergeant._lease_block.LEASE_ENV`
    names) as soon as they are held, with a heartbeat per round: when the
    heartbeat stalls, the supervisor renews them (:mod:`sergeant._lease_guard`).
    """

    def __init__(
        self,
        broker: Broker,
        queue_name: str,
        lease_seconds: float,
        logger: logging.Logger,
        block: LeaseBlock | None = None,
    ) -> None:
        self.broker = broker
        self.queue_name = queue_name
        self.lease_seconds = lease_seconds
        self.logger = logger
        self.block = block if block is not None else LeaseBlock.from_env()
        self._held: set[str] = set()
        self._guard = threading.Lock()
        self._stopped = threading.Event()
        self._dirty = False
        self._unpublished = False
        self._thread = threading.Thread(target=self._run, name="sergeant-lease", daemon=True)

    def start(self) -> None:
        """Start renewing."""
        if self.block is not None:
            with self._guard:
                self.block.start(self.queue_name, self.lease_seconds, time.monotonic())
        self._thread.start()

    def close(self) -> None:
        """Stop renewing (held receipts are left to the caller to settle)."""
        self._stopped.set()
        self._thread.join()
        if self.block is not None:
            with self._guard:
                self.block.close()
                self.block = None

    def hold(self, receipts: Iterable[str]) -> None:
        """Renew these receipts until dropped."""
        with self._guard:
            self._held.update(receipts)
            if self.block is not None:  # now: the next task may starve the thread
                self._publish(self.block)

    def drop(self, receipts: Iterable[str]) -> None:
        """Stop renewing these receipts (acked or released)."""
        with self._guard:
            self._held.difference_update(receipts)
            self._dirty = True  # published by the thread: renewing a settled receipt is harmless

    def _publish(self, block: LeaseBlock) -> None:
        self._dirty = False
        if not block.publish(self._held) and not self._unpublished:
            self._unpublished = True
            self.logger.warning(
                "cannot share %d held receipts with the supervisor (too many, or one holds"
                " a NUL): a task that holds the GIL past its lease may then run twice",
                len(self._held),
            )

    def _run(self) -> None:
        while not self._stopped.wait(self.lease_seconds / 3):
            with self._guard:
                held = list(self._held)
                if self.block is not None:
                    self.block.beat(time.monotonic())
                    if self._dirty:
                        self._publish(self.block)
            if not held:
                continue
            try:
                renewed = self.broker.extend(self.queue_name, held, self.lease_seconds)
            except SergeantError as exc:
                self.logger.error("could not extend the leases of %d tasks: %s", len(held), exc)
                continue
            with self._guard:
                still_held = len(self._held.intersection(held))
            if renewed < still_held:  # receipts settled meanwhile are not lost leases
                self.logger.warning(
                    "%d of %d leases had already run out; those tasks may run twice",
                    still_held - renewed,
                    still_held,
                )
