"""Listing dead letters leaves them as they were, on a connector that can peek."""

from __future__ import annotations

import uuid

import sergeant
from sergeant.broker import Broker, dead_queue_name


def test_listing_dead_letters_counts_no_delivery() -> None:
    config = sergeant.config.Connector(type="memory", params={"name": uuid.uuid4().hex})
    connector = sergeant.connect(config)
    broker = Broker(connector)
    broker.dead_letter("emails", b"payload-1", "could not decode", 3)
    for _ in range(3):
        (entry,) = broker.dead_letters("emails")
        assert (entry.payload, entry.reason, entry.deliveries) == (
            b"payload-1",
            "could not decode",
            3,
        )
    (delivery,) = connector.queue_reserve(dead_queue_name("emails"), 5, 30)
    assert delivery.deliveries == 1  # the three listings handed nothing out
