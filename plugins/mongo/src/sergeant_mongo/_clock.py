"""A node's server clock: the one time every client of the node agrees on.

Leases, ready times and lock expiries written by one client are compared by
every other, so they are all on the server's clock, not each client's wall
clock (a client an hour ahead would take every running task; one an hour behind
would write leases that look expired to everyone else). A client reads the
server's time (``hello``'s ``localTime``) when it sets the node up and again
about once a minute, and follows it between reads on its own monotonic clock,
which wall-clock steps do not move.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from pymongo.database import Database
from pymongo.errors import OperationFailure

__all__ = ["READY_SLACK", "ServerClock"]

#: Seconds between reads of the server's time.
RESYNC_SECONDS = 60.0
#: How far in the past an item made ready "now" is stamped, so that a client whose
#: estimate of the server's time is a little behind the writer's sees it at once.
READY_SLACK = 1.0
_COMMAND_NOT_FOUND = 59


class ServerClock:
    """Epoch seconds on the server's clock (to about half a round trip)."""

    def __init__(self, resync: float = RESYNC_SECONDS) -> None:
        self._resync = resync
        self._offset = 0.0
        self._synced = -float("inf")

    def now(self, db: Database[Any]) -> float:
        """The server's time now, reading it through ``db`` when the last read is old."""
        mono = time.monotonic()
        if mono - self._synced >= self._resync:
            self.sync(db)
            mono = time.monotonic()
        return mono + self._offset

    def sync(self, db: Database[Any]) -> None:
        """Read the server's time; a server that tells none leaves this client's wall clock."""
        before = time.monotonic()
        try:
            reply = db.client.admin.command("hello")
        except OperationFailure as exc:
            if exc.code != _COMMAND_NOT_FOUND:  # servers before 4.4.2 know only isMaster
                raise
            reply = db.client.admin.command("isMaster")
        after = time.monotonic()
        local = reply.get("localTime")
        if isinstance(local, dt.datetime):
            aware = local if local.tzinfo else local.replace(tzinfo=dt.UTC)
            # whole milliseconds, truncated: the middle of that millisecond
            server = aware.timestamp() + 0.0005
        else:
            server = time.time()
        self._offset = server - (before + after) / 2
        self._synced = after
