"""Imported at start-up (as ``sitecustomize``) by every process whose wall clock the
clock-step scenario moves; puts back the one thing libfaketime breaks.

How the scenario steps a process's wall clock: libfaketime (Debian package
``faketime``, installed by ``scripts/test``) is preloaded (``LD_PRELOAD``) into
the supervisor, and so into every worker process it starts (children inherit the
environment), with

- ``FAKETIME_TIMESTAMP_FILE``: a file holding the offset, ``+0`` at start; the
  test writes ``+3600`` or ``-3600`` into it mid-task;
- ``FAKETIME_CACHE_DURATION=1``: each process re-reads that file at most a
  second after it changed, so the step lands in every process within a second,
  in the middle of whatever it is doing;
- ``FAKETIME_DONT_FAKE_MONOTONIC=1``: ``CLOCK_MONOTONIC`` stays the kernel's,
  as a real step (``date -s``, an NTP step) leaves it.

libfaketime answers the C calls (``clock_gettime(CLOCK_REALTIME)``,
``gettimeofday``, ``time``), so everything that reads the wall clock moves:
``time.time()``, ``time.time_ns()``, ``datetime.now()``, log timestamps, C
extensions. A shim patching ``time.time`` in Python would leave ``datetime`` and
C code on the real clock, and would not be the step a machine really takes.

The one thing it breaks: with ``FAKETIME_DONT_FAKE_MONOTONIC`` set, libfaketime
0.9.10 mangles the deadline of ``clock_nanosleep(CLOCK_MONOTONIC,
TIMER_ABSTIME)``, which ``time.sleep`` uses since Python 3.11, and every
``time.sleep`` fails with EINVAL (libfaketime issue #426). This module replaces
``time.sleep`` with a wait in ``select()`` against the real ``time.monotonic()``
(``select`` is not affected), so code sleeping is unaffected by the step. It
does nothing in a process without libfaketime.
"""

from __future__ import annotations

import os
import select
import time

_real_sleep = time.sleep


def _sleep(seconds: float) -> None:
    """``time.sleep`` on the monotonic clock, through ``select``."""
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        select.select([], [], [], left)


if "faketime" in os.environ.get("LD_PRELOAD", ""):
    time.sleep = _sleep
