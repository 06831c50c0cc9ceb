"""Bulk claims stay correct when another consumer takes an item mid-claim.

A bulk reserve or pop finds candidate ids, then claims them with one
``update_many``. Here a command listener (run synchronously by pymongo just
before the command is sent) lets a rival connector take the head item in
exactly that gap, so the claim is partial every time: the rival's item must not
also be handed out, and the caller still gets its full count.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from pymongo import monitoring
from sergeant_mongo import MongoConnector
from sergeant_test_support.mongo_fixtures import MongoServer, mongo_connector_params


class BeforeUpdate(monitoring.CommandListener):
    """Calls ``action`` once, just before the next ``update`` command is sent."""

    def __init__(self) -> None:
        self.action: Callable[[], None] | None = None
        self.commands: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands.append(event.command_name)
        if event.command_name == "update" and self.action is not None:
            action, self.action = self.action, None
            action()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


class Interrupted(MongoConnector):
    listener: BeforeUpdate

    def _client_options(self) -> Mapping[str, Any]:
        self.listener = BeforeUpdate()
        return {"event_listeners": [self.listener]}


@pytest.fixture
def pair(mongo_server: MongoServer) -> Iterator[tuple[Interrupted, MongoConnector]]:
    params = mongo_connector_params(mongo_server)
    consumer, rival = Interrupted(**params), MongoConnector(**params)
    yield consumer, rival
    consumer.close()
    rival.close()


def _items(count: int) -> list[bytes]:
    return [b"item-%02d" % i for i in range(count)]


def test_reserve_skips_an_item_taken_between_find_and_claim(
    pair: tuple[Interrupted, MongoConnector],
) -> None:
    consumer, rival = pair
    queue = f"claims-{uuid.uuid4().hex[:8]}"
    consumer.queue_push_bulk(queue, _items(10))
    taken: list[bytes] = []
    consumer.listener.action = lambda: taken.extend(
        d.item for d in rival.queue_reserve(queue, 1, 60)
    )
    consumer.listener.commands.clear()

    deliveries = consumer.queue_reserve(queue, 5, 60)

    assert taken == [b"item-00"]
    assert [d.item for d in deliveries] == _items(6)[1:]
    assert all(d.deliveries == 1 for d in deliveries)
    # the partial claim costs one more round (find, claim, read) to fill the count
    assert consumer.listener.commands == ["find", "update", "find", "find", "update", "find"]
    assert consumer.queue_ack(queue, [d.receipt for d in deliveries]) == 5
    assert consumer.queue_length(queue) == 4


def test_bulk_pop_skips_an_item_taken_between_find_and_claim(
    pair: tuple[Interrupted, MongoConnector],
) -> None:
    consumer, rival = pair
    queue = f"claims-{uuid.uuid4().hex[:8]}"
    consumer.queue_push_bulk(queue, _items(10))
    taken: list[bytes] = []
    consumer.listener.action = lambda: taken.extend(rival.queue_pop_bulk(queue, 1))

    popped = consumer.queue_pop_bulk(queue, 5)

    assert taken == [b"item-00"]
    assert popped == _items(6)[1:]
    rest = consumer.queue_pop_bulk(queue, 100)
    assert sorted(taken + popped + rest) == _items(10)
