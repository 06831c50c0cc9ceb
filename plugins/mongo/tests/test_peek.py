"""``queue_peek`` on mongo: ready items in the order a reserve hands them out, left in place.

Each node's items come HIGH first, then in push order; nodes come one after the
other as a reserve visits them. Leased and delayed items are not shown, nothing
is removed, and peeking counts no delivery (``Broker.dead_letters`` relies on it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pymongo import MongoClient
from sergeant.connector import PEEK
from sergeant_mongo import MongoConnector
from sergeant_test_support.mongo_fixtures import MongoServer

Make = Callable[..., MongoConnector]


def _items_on(server: MongoServer, database: str, queue: str) -> set[bytes]:
    if server.uri is not None:
        client: MongoClient[dict[str, Any]] = MongoClient(server.uri)
    else:
        client = MongoClient(server.host, server.port, directConnection=True)
    try:
        return {bytes(doc["item"]) for doc in client[database]["queues"].find({"q": queue})}
    finally:
        client.close()


def test_peek_shows_ready_items_in_hand_out_order_and_takes_nothing(
    mongo_server: MongoServer, make_connector: Make
) -> None:
    connector = make_connector(mongo_server)
    assert PEEK in connector.capabilities
    connector.queue_push_bulk("peeked", [b"n1", b"n2", b"n3"])
    connector.queue_push("peeked", b"h1", priority="HIGH")
    connector.queue_push("peeked", b"later", consumable_from=time.time() + 3600)
    (leased,) = connector.queue_reserve("peeked", 1, 60)
    assert leased.item == b"h1"

    assert connector.queue_peek("peeked", 10) == [b"n1", b"n2", b"n3"]
    assert connector.queue_peek("peeked", 2) == [b"n1", b"n2"]
    connector.queue_release("peeked", [leased.receipt])
    assert connector.queue_peek("peeked", 10) == [b"h1", b"n1", b"n2", b"n3"]
    assert connector.queue_length("peeked", include_delayed=True) == 5

    reserved = connector.queue_reserve("peeked", 10, 60)
    assert [d.item for d in reserved] == [b"h1", b"n1", b"n2", b"n3"]
    assert [d.deliveries for d in reserved] == [2, 1, 1, 1]  # h1 was reserved once before
    assert connector.queue_peek("peeked", 10) == []


def test_peek_across_nodes_follows_a_reserve_node_by_node(
    mongo_server: MongoServer, mongo_server_2: MongoServer, make_connector: Make
) -> None:
    connector = make_connector(mongo_server, mongo_server_2)
    for i in range(3):  # pushes rotate across the nodes
        connector.queue_push("spread", b"n%d" % i)
        connector.queue_push("spread", b"h%d" % i, priority="HIGH")
    database = connector.params.database
    on_node = [_items_on(server, database, "spread") for server in (mongo_server, mongo_server_2)]
    assert all(on_node), "both nodes hold items"

    peeks = [connector.queue_peek("spread", 100) for _ in range(2)]
    for peeked in peeks:
        assert sorted(peeked) == sorted(on_node[0] | on_node[1])
        first = len(on_node[0]) if peeked[0] in on_node[0] else len(on_node[1])
        for block in (peeked[:first], peeked[first:]):
            assert any(set(block) == items for items in on_node), "one node after the other"
            ranks = [item[:1] for item in block]
            assert ranks == sorted(ranks), "HIGH before NORMAL on each node"
            assert block == sorted(block, key=lambda item: (item[:1], int(item[1:])))
    reserved = connector.queue_reserve("spread", 100, 60)
    assert [d.item for d in reserved] in peeks  # a reserve visits the nodes as one peek did
    assert {d.deliveries for d in reserved} == {1}
