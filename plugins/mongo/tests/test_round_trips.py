"""Performance guard: how many commands each call sends, counted by pymongo's command monitoring.

Each call's command count is part of the design (DESIGN §5: single atomic
commands for pops and leases, one insert per bulk chunk, bulk claims without
transactions), so a change that adds round trips fails here.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from pymongo import monitoring
from sergeant_mongo import MongoConnector
from sergeant_test_support.mongo_fixtures import MongoServer, mongo_connector_params


class CommandLog(monitoring.CommandListener):
    """Records the name of every command started; thread safe."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        with self._guard:
            self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def take(self) -> list[str]:
        """The commands since the last take, excluding driver housekeeping."""
        with self._guard:
            names, self.names = self.names, []
        return [n for n in names if n not in {"endSessions", "killCursors"}]


class MonitoredConnector(MongoConnector):
    log: CommandLog

    def _client_options(self) -> Mapping[str, Any]:
        self.log = CommandLog()
        return {"event_listeners": [self.log]}


@pytest.fixture
def one(mongo_server: MongoServer) -> Iterator[MonitoredConnector]:
    connector = MonitoredConnector(**mongo_connector_params(mongo_server))
    connector.log.take()  # construction: set-up and index creation
    yield connector
    connector.close()


@pytest.fixture
def two(mongo_server: MongoServer, mongo_server_2: MongoServer) -> Iterator[MonitoredConnector]:
    connector = MonitoredConnector(**mongo_connector_params(mongo_server, mongo_server_2))
    connector.log.take()
    yield connector
    connector.close()


def _queue() -> str:
    return f"rt-{uuid.uuid4().hex[:10]}"


def test_bulk_push_of_1000_is_one_insert(one: MonitoredConnector) -> None:
    queue = _queue()
    assert one.queue_push_bulk(queue, [b"x%d" % i for i in range(1000)]) is True
    assert one.log.take() == ["insert"]
    assert one.queue_push(queue, b"one") is True
    assert one.log.take() == ["insert"]


def test_single_pop_and_reserve_are_one_atomic_command(one: MonitoredConnector) -> None:
    queue = _queue()
    one.queue_push_bulk(queue, [b"a", b"b"])
    one.log.take()
    assert one.queue_pop(queue) == b"a"
    assert one.log.take() == ["findAndModify"]
    (delivery,) = one.queue_reserve(queue, 1, 30)
    assert one.log.take() == ["findAndModify"]
    assert one.queue_ack(queue, [delivery.receipt]) == 1
    assert one.log.take() == ["delete"]


def test_bulk_reserve_of_100_is_three_commands(one: MonitoredConnector) -> None:
    # find the candidates, claim them with one update_many, read what was claimed
    queue = _queue()
    one.queue_push_bulk(queue, [b"x%d" % i for i in range(150)])
    one.log.take()
    deliveries = one.queue_reserve(queue, 100, 30)
    assert len(deliveries) == 100
    assert one.log.take() == ["find", "update", "find"]
    assert one.queue_ack(queue, [d.receipt for d in deliveries]) == 100
    assert one.log.take() == ["delete"]
    assert one.queue_extend(queue, [], 30) == 0
    assert one.log.take() == []


def test_bulk_pop_of_100_is_three_commands(one: MonitoredConnector) -> None:
    # find the candidates with their items, claim them, delete what was claimed
    queue = _queue()
    one.queue_push_bulk(queue, [b"x%d" % i for i in range(150)])
    one.log.take()
    assert len(one.queue_pop_bulk(queue, 100)) == 100
    assert one.log.take() == ["find", "update", "delete"]


def test_pop_on_empty_queue_over_two_nodes_is_two_commands(two: MonitoredConnector) -> None:
    queue = _queue()
    assert two.queue_pop(queue) is None
    assert two.log.take() == ["findAndModify", "findAndModify"]
    assert two.queue_reserve(queue, 10, 30) == []
    assert two.log.take() == ["find", "find"]
