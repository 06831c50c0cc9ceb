"""The lock every built-in backend uses: an owner token per acquisition, written once.

:class:`TokenLock` implements :class:`~sergeant.connector.Lock` around five
storage primitives a backend provides, so the argument checks, the acquire
loop (waits with ``time.sleep``, which Sergeant users' tests patch), ``set_ttl(0)``
and freeing a lock whose object is collected live here and nowhere else.
"""

from __future__ import annotations

import abc
import secrets
import time
from collections.abc import Callable

from sergeant.connector._collected import (
    CollectedRelease,
    release_when_collected,
    settle_collected,
)
from sergeant.connector._lock import Lock
from sergeant.validation import check_positive, check_set_ttl, check_timeout, check_ttl

__all__ = ["TokenLock"]


class TokenLock(Lock):
    """A :class:`~sergeant.connector.Lock` whose acquisitions each hold a random token.

    ``release`` and ``set_ttl`` act only while this acquisition's token still
    holds the lock, so once it expired and someone else took it they do nothing.
    A backend subclasses it and implements :meth:`try_acquire`, :meth:`extend`,
    :meth:`seconds_left` and :meth:`token_releaser` (and :meth:`exists` where it
    has a cheaper test than :meth:`seconds_left`).
    """

    def __init__(self, name: str) -> None:
        settle_collected()
        self.name = name
        self._token: str | None = None
        self._collected: CollectedRelease | None = None

    # Storage primitives ---------------------------------------------------

    @abc.abstractmethod
    def try_acquire(self, token: str, seconds: int) -> bool:
        """Store ``token`` as the holder for ``seconds`` unless a live holder exists."""

    @abc.abstractmethod
    def extend(self, token: str, seconds: int) -> bool:
        """Set the time left to ``seconds`` if ``token`` still holds the lock."""

    def exists(self) -> bool:
        """True while anyone holds the lock and its time has not run out."""
        return self.seconds_left() is not None

    @abc.abstractmethod
    def seconds_left(self) -> int | None:
        """Whole seconds left (rounded up, at least 1), or None when nobody holds it."""

    @abc.abstractmethod
    def token_releaser(self) -> Callable[[str], bool]:
        """A function freeing the lock if the token it is given holds it.

        It runs after this object is garbage-collected too, so it must not refer
        to the object (bind the storage handle and the name instead).
        """

    # The Lock API -----------------------------------------------------------

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, held={self._token is not None})"

    def _hold(self, token: str | None) -> None:
        if self._collected is not None:
            self._collected.detach()
            self._collected = None
        self._token = token
        if token is not None:
            release = self.token_releaser()
            self._collected = release_when_collected(self, lambda: release(token))

    def acquire(
        self, timeout: float | None = None, check_interval: float = 1.0, ttl: int = 60
    ) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds (None: until taken)."""
        settle_collected()
        seconds = check_ttl(ttl)
        wait = check_timeout(timeout)
        interval = check_positive("check_interval", check_interval)
        deadline = None if wait is None else time.monotonic() + wait
        token = secrets.token_hex(16)
        while True:
            if self.try_acquire(token, seconds):
                self._hold(token)
                return True
            if deadline is None:
                time.sleep(interval)
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(interval, left))

    def release(self) -> bool:
        """Free the lock if this acquisition still holds it."""
        token = self._token
        if token is None:
            return False
        freed = self.token_releaser()(token)
        self._hold(None)
        return freed

    def is_locked(self) -> bool:
        """True while anyone holds the lock."""
        settle_collected()
        return self.exists()

    def set_ttl(self, ttl: int) -> bool:
        """Reset the time to live if this acquisition still holds the lock (0: free it)."""
        seconds = check_set_ttl(ttl)
        if seconds == 0:
            return self.release()
        if self._token is None:
            return False
        return self.extend(self._token, seconds)

    def get_ttl(self) -> int | None:
        """Seconds the lock has left (rounded up), or None when nobody holds it."""
        return self.seconds_left()
