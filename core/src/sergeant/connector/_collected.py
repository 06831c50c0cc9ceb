"""Freeing locks whose :class:`~sergeant.connector.Lock` object is garbage-collected while held.

Sergeant's locks release in ``__del__``. Network or file I/O from a finalizer
can run at any allocation, in whatever thread, possibly in the middle of a call
on the same connection (a deadlock, or a driver's "recursive use" error). So
the finalizer only queues the release (``SimpleQueue.put`` is safe in
finalizers), and one daemon thread per process runs the queued releases. So
that code written for Sergeant sees the lock free at once (``del lock`` then
``connector.lock(name).is_locked()`` is False), backends call
:func:`settle_collected` when a lock object is made and before ``acquire`` and
``is_locked``: it runs the releases queued so far in the caller's thread, at a
call boundary where I/O is safe, and waits for one the release thread has begun. Each
release is owner-checked by the backend: a lock someone else took after this
one expired is never freed. A release that fails is logged at DEBUG level; the
lock then frees itself when its ttl runs out. At interpreter exit nothing runs:
held locks expire by their ttl.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Protocol

from sergeant.redaction import redact

__all__ = [
    "CollectedRelease",
    "release_when_collected",
    "settle_collected",
    "wait_collected_released",
]

log = logging.getLogger("sergeant.lock")

_Job = Callable[[], object] | threading.Event
_jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
_thread: threading.Thread | None = None
_start_guard = threading.Lock()
# Re-entrant: a finalizer may run (and count a release) in a thread that holds it.
_state = threading.Condition(threading.RLock())
_pending = 0


def _enqueue(release: Callable[[], object]) -> None:
    global _pending
    with contextlib.suppress(Exception):  # interpreter teardown: the ttl frees the lock
        with _state:
            _pending += 1
        _jobs.put(release)


def _execute(job: _Job) -> None:
    global _pending
    if isinstance(job, threading.Event):
        job.set()
        return
    try:
        job()
    except Exception as exc:  # the ttl frees the lock; nobody is there to tell
        log.debug(
            "freeing a collected lock failed (%s: %s); it expires with its ttl",
            type(exc).__name__,
            redact(str(exc)),
        )
    finally:
        with _state:
            _pending -= 1
            _state.notify_all()


def _run(jobs: queue.SimpleQueue[_Job]) -> None:
    while True:
        _execute(jobs.get())


def settle_collected(timeout: float = 10.0) -> bool:
    """Free now the locks whose objects were collected while held (see the module doc).

    Call it only where no backend call is in progress in this thread. Returns
    False if a release the release thread is running took longer than ``timeout``.
    """
    if not _pending:  # the usual case: one read, no lock
        return True
    while True:
        try:
            job = _jobs.get_nowait()
        except queue.Empty:
            break
        if isinstance(job, threading.Event):
            _jobs.put(job)  # a waiter's marker: keep it queued behind the releases
            break
        _execute(job)
    with _state:
        return _state.wait_for(lambda: _pending == 0, timeout)


def _ensure_thread() -> None:
    global _thread
    if _thread is not None and _thread.is_alive():
        return
    with _start_guard:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(
                target=_run, args=(_jobs,), name="sergeant-lock-release", daemon=True
            )
            _thread.start()


def _after_fork() -> None:
    # the parent's thread does not exist here, and its queued releases are the parent's
    global _jobs, _thread, _start_guard, _state, _pending
    _jobs, _thread, _start_guard = queue.SimpleQueue(), None, threading.Lock()
    _state, _pending = threading.Condition(threading.RLock()), 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class CollectedRelease(Protocol):
    """What :func:`release_when_collected` returns (a :class:`weakref.finalize`)."""

    def detach(self) -> object:
        """Cancel the release: the lock was released (or its ttl set to 0) by hand."""


def release_when_collected(lock: object, release: Callable[[], object]) -> CollectedRelease:
    """Run ``release`` (in the release thread) once ``lock`` is garbage-collected.

    Backends call it when an acquisition succeeds, and call ``.detach()`` on the
    result when the lock is released or its ttl set to 0. ``release`` must free
    the lock only if it still holds this acquisition's owner token, and must not
    refer to ``lock`` (or the object would never be collected).
    """
    _ensure_thread()
    finalizer = weakref.finalize(lock, _enqueue, release)
    finalizer.atexit = False
    return finalizer


def wait_collected_released(timeout: float = 10.0) -> bool:
    """Wait until every release queued so far has run; False if ``timeout`` passed first."""
    done = threading.Event()
    _ensure_thread()
    _jobs.put(done)
    return done.wait(timeout)
