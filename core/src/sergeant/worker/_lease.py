"""Keep the leases of reserved tasks alive while this worker still holds them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from sergeant.broker import Broker
from sergeant.errors import SergeantError

__all__ = ["LeaseKeeper"]


class LeaseKeeper:
    """Renews every held receipt each third of the lease, on a background thread.

    A task that runs for an hour is thus never handed to another worker, while a
    worker that dies stops renewing and its tasks come back after one lease.
    """

    def __init__(
        self, broker: Broker, queue_name: str, lease_seconds: float, logger: logging.Logger
    ) -> None:
        self.broker = broker
        self.queue_name = queue_name
        self.lease_seconds = lease_seconds
        self.logger = logger
        self._held: set[str] = set()
        self._guard = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sergeant-lease", daemon=True)

    def start(self) -> None:
        """Start renewing."""
        self._thread.start()

    def close(self) -> None:
        """Stop renewing (held receipts are left to the caller to settle)."""
        self._stopped.set()
        self._thread.join()

    def hold(self, receipts: Iterable[str]) -> None:
        """Renew these receipts until dropped."""
        with self._guard:
            self._held.update(receipts)

    def drop(self, receipts: Iterable[str]) -> None:
        """Stop renewing these receipts (acked or released)."""
        with self._guard:
            self._held.difference_update(receipts)

    def _run(self) -> None:
        while not self._stopped.wait(self.lease_seconds / 3):
            with self._guard:
                held = list(self._held)
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
