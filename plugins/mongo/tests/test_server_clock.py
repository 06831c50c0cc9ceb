"""Leases, ready times and locks are on the server's clock, not each client's.

A client whose wall clock is an hour off (a VM restored from a snapshot, NTP
not yet run) shares queues with clients whose clocks are right. Its wall clock
is this process's ``time.time`` moved by an hour: the connectors must not read
it. On the client's own clock, a client an hour ahead would take every running
task and hide what it pushes from everyone else for an hour, and one an hour
behind would write leases that look an hour expired to everyone else.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import pytest
from sergeant_mongo import MongoConnector
from sergeant_test_support.mongo_fixtures import MongoServer

Make = Callable[..., MongoConnector]
HOUR = 3600.0
LEASE = 60.0


def _two_clients(server: MongoServer, make: Make) -> tuple[MongoConnector, MongoConnector]:
    first = make(server)
    return first, make(server, database=first.params.database)


def _skew(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + seconds)


@pytest.mark.parametrize("offset", [HOUR, -HOUR], ids=["ahead", "behind"])
def test_a_client_with_a_wrong_wall_clock_takes_no_live_lease(
    mongo_server: MongoServer, make_connector: Make, monkeypatch: pytest.MonkeyPatch, offset: float
) -> None:
    right, wrong = _two_clients(mongo_server, make_connector)
    right.queue_push("skewed-leases", b"running")
    with monkeypatch.context() as patch:
        if offset < 0:  # the wrong client leases it, an hour behind
            _skew(patch, offset)
            taker, other = wrong, right
        else:  # the right client leases it; the wrong one, an hour ahead, probes
            taker, other = right, wrong
        [held] = taker.queue_reserve("skewed-leases", 1, LEASE)
        _skew(patch, offset)
        assert other.queue_reserve("skewed-leases", 1, LEASE) == []
        assert other.queue_pop("skewed-leases") is None
    assert right.queue_reserve("skewed-leases", 1, LEASE) == []
    assert taker.queue_extend("skewed-leases", [held.receipt], LEASE) == 1
    assert taker.queue_ack("skewed-leases", [held.receipt]) == 1
    assert right.queue_length("skewed-leases", include_delayed=True) == 0


@pytest.mark.parametrize("offset", [HOUR, -HOUR], ids=["ahead", "behind"])
def test_what_a_client_with_a_wrong_wall_clock_pushes_is_ready_when_it_meant(
    mongo_server: MongoServer, make_connector: Make, monkeypatch: pytest.MonkeyPatch, offset: float
) -> None:
    """Now is now for everyone; a date is the delay it is on the pusher's own clock
    (a retry ``delay`` seconds from now, as the worker writes it, waits ``delay``)."""
    right, wrong = _two_clients(mongo_server, make_connector)
    right.queue_push("skewed-pushes", b"retried")
    [retried] = right.queue_reserve("skewed-pushes", 1, LEASE)
    with monkeypatch.context() as patch:
        _skew(patch, offset)
        wrong.queue_push("skewed-pushes", b"pushed")
        wrong.queue_push("skewed-pushes", b"delayed", consumable_from=time.time() + 600)
        assert wrong.queue_release("skewed-pushes", [retried.receipt], time.time() + 600) == 1
    assert right.queue_length("skewed-pushes", include_delayed=False) == 1
    assert right.queue_length("skewed-pushes", include_delayed=True) == 3
    assert right.queue_pop("skewed-pushes") == b"pushed"
    assert right.queue_pop("skewed-pushes") is None


def test_a_client_an_hour_ahead_cannot_take_a_held_lock(
    mongo_server: MongoServer, make_connector: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    right, wrong = _two_clients(mongo_server, make_connector)
    held = right.lock("skewed-lock")
    assert held.acquire(timeout=0, check_interval=0.01, ttl=60)
    _skew(monkeypatch, HOUR)
    rival = wrong.lock("skewed-lock")
    assert not rival.acquire(timeout=0, check_interval=0.01, ttl=60)
    assert rival.is_locked()
    assert 0 < (rival.get_ttl() or 0) <= 60


class _Admin:
    """The part of a pymongo database the clock reads: ``client.admin.command``."""

    def __init__(self, replies: dict[str, object]) -> None:
        self.replies = replies
        self.asked: list[str] = []
        self.client = self
        self.admin = self

    def command(self, name: str) -> object:
        self.asked.append(name)
        reply = self.replies[name]
        if isinstance(reply, Exception):
            raise reply
        return reply


def test_the_clock_reads_the_server_again_after_its_interval_and_copes_with_old_servers() -> None:
    from pymongo.errors import OperationFailure
    from sergeant_mongo._clock import ServerClock

    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    old_server = _Admin({"hello": OperationFailure("no such command", code=59)})
    old_server.replies["isMaster"] = {"localTime": ahead}
    clock = ServerClock(resync=0.0)
    assert abs(clock.now(old_server) - ahead.timestamp()) < 5  # type: ignore[arg-type]
    assert old_server.asked == ["hello", "isMaster"]
    clock.now(old_server)  # type: ignore[arg-type]
    assert old_server.asked == ["hello", "isMaster"] * 2

    timeless = _Admin({"hello": {"ok": 1.0}})
    clock = ServerClock(resync=3600.0)
    assert abs(clock.now(timeless) - time.time()) < 5  # type: ignore[arg-type]
    clock.now(timeless)  # type: ignore[arg-type]
    assert timeless.asked == ["hello"]

    refused = _Admin({"hello": OperationFailure("unauthorized", code=13)})
    with pytest.raises(OperationFailure):
        ServerClock().now(refused)  # type: ignore[arg-type]
