"""Steps the wall clock of the processes that start with this folder on PYTHONPATH.

When ``SERGEANT_TEST_CLOCK_OFFSET_FILE`` names a file, ``time.time()`` and
``time.time_ns()`` return the real time plus the seconds that file holds (read
again at most every 20 ms), as a system clock step would; ``time.monotonic()``
is left alone, as a step leaves it. Used by scenario 12 (test_clock_step.py).
libfaketime is not used for this: with the monotonic clock left real
(FAKETIME_DONT_FAKE_MONOTONIC=1) its 0.9.10 build makes Python's ``time.sleep``
fail with EINVAL.
"""

from __future__ import annotations

import os
import time

_FILE = os.environ.get("SERGEANT_TEST_CLOCK_OFFSET_FILE")

if _FILE:
    _real_time = time.time
    _real_time_ns = time.time_ns
    _monotonic = time.monotonic
    _state = {"offset": 0.0, "read_at": -1.0}

    def _offset() -> float:
        now = _monotonic()
        if now - _state["read_at"] > 0.02:
            try:
                with open(_FILE) as handle:
                    _state["offset"] = float(handle.read().strip() or 0)
            except (OSError, ValueError):
                pass
            _state["read_at"] = now
        return _state["offset"]

    def _stepped_time() -> float:
        return _real_time() + _offset()

    def _stepped_time_ns() -> int:
        return _real_time_ns() + int(_offset() * 1e9)

    time.time = _stepped_time
    time.time_ns = _stepped_time_ns
