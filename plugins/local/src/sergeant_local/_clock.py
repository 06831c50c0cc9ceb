"""The clock of lease expiries: wall-clock seconds that a step of the wall clock does not move.

Leases measure durations, so they must not follow the wall clock: a step of an
hour forward would make every lease look expired (each running task handed to
another worker), a step back would keep a dead worker's tasks an hour longer.
The lease clock is the machine's monotonic clock (``time.monotonic()``: one
clock for the whole system on Linux, CLOCK_MONOTONIC) plus an anchor, the
wall-clock time minus the monotonic time when the first process of this boot
opened the file; the anchor is stored in the file with the boot's id, so every
process on the machine reads the same lease clock. It starts near the wall clock
(files written before it, and leases of an earlier boot, compare about right:
those end about when their wall-clock expiry passes) and then only moves forward
with real time. Where the boot id is unknown (not Linux), leases use the wall
clock. Ready times (pushes, delays, releases) are on the lease clock too: a
``consumable_from`` date is turned into the delay it means when it is pushed,
so a step back of the wall clock does not hold back what was queued before it
for the length of the step, and a step forward does not let delays run early.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from sergeant_local import schema
from sergeant_local._database import Database

__all__ = ["boot_id", "lease_clock"]

_BOOT_ID = "/proc/sys/kernel/random/boot_id"


def boot_id() -> str:
    """This boot's id ("" where the system does not tell)."""
    try:
        with open(_BOOT_ID) as found:
            return found.read().strip()
    except OSError:
        return ""


def lease_clock(db: Database, may_write: bool) -> Callable[[], float] | None:
    """The lease clock of the file ``db``: the anchor it holds for this boot,
    written first if it holds none and ``may_write`` (else None)."""
    boot = boot_id()
    if not boot:
        return lambda: time.time()  # looked up per call: tests step the wall clock
    found = db.rows(schema.CLOCK_GET, ())
    if found and found[0][0] == boot:
        anchor = float(found[0][1])
    elif not may_write:
        return None
    else:
        anchor = db.write(lambda conn: _adopt(conn, boot))
    return lambda: anchor + time.monotonic()


def _adopt(conn: sqlite3.Connection, boot: str) -> float:
    found = conn.execute(schema.CLOCK_GET).fetchone()
    if found is not None and found[0] == boot:
        return float(found[1])
    anchor = time.time() - time.monotonic()
    conn.execute(schema.CLOCK_CLEAR)
    conn.execute(schema.CLOCK_SET, (boot, anchor))
    return anchor
