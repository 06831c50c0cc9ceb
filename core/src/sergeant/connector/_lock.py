"""The lock contract: what ``Connector.lock(name)`` returns."""

from __future__ import annotations

import abc

__all__ = ["Lock"]


class Lock(abc.ABC):
    """A named lock with a time to live, shared by every process using the storage."""

    name: str

    @abc.abstractmethod
    def acquire(
        self, timeout: float | None = None, check_interval: float = 1.0, ttl: int = 60
    ) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds (None: wait until taken).

        :param check_interval: seconds between attempts while another holder has it.
        :param ttl: seconds until the lock frees itself if not released.
        :returns: True when this object now holds the lock.
        """

    @abc.abstractmethod
    def release(self) -> bool:
        """Free the lock if this acquisition still owns it; True when it did."""

    @abc.abstractmethod
    def is_locked(self) -> bool:
        """True while anyone holds the lock (and it has not expired)."""

    @abc.abstractmethod
    def set_ttl(self, ttl: int) -> bool:
        """Reset the time to live to ``ttl`` seconds if this acquisition still owns the lock.

        ``ttl=0`` frees the lock now. True when this acquisition owned it.
        """

    @abc.abstractmethod
    def get_ttl(self) -> int | None:
        """Seconds the lock has left (rounded up), or None when nobody holds it."""
