"""The connector creates its indexes at construction, and its queries can use them.

A real mongod answers ``explain`` with a ``queryPlanner`` whose winning plan
must walk ``sergeant_ready`` with no in-memory sort. mongoeco's ``explain``
describes its own engine instead (an in-memory scan that ignores indexes), so
against it this test checks the index list and that mongoeco's planner sees the
index, and says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from pymongo import MongoClient
from sergeant_mongo import MongoConnector
from sergeant_test_support.mongo_fixtures import MongoServer


def _stages(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for key in ("inputStage", "queryPlan"):
        if isinstance(plan.get(key), dict):
            yield from _stages(plan[key])
    for child in plan.get("inputStages", []):
        yield from _stages(child)


def test_indexes_exist_after_construction(
    make_connector: Callable[..., MongoConnector],
    mongo_server: MongoServer,
    client: MongoClient[dict[str, Any]],
) -> None:
    connector = make_connector(mongo_server)
    database = client[connector.params.database]
    queues = {i["name"]: i for i in database["queues"].list_indexes()}
    assert list(queues["sergeant_ready"]["key"].items()) == [
        ("q", 1),
        ("p", 1),
        ("at", 1),
        ("_id", 1),
    ]
    locks = {i["name"]: i for i in database["locks"].list_indexes()}
    assert list(locks["sergeant_lock_expiry"]["key"].items()) == [("exp", 1)]
    assert locks["sergeant_lock_expiry"]["expireAfterSeconds"] == 0


def test_pop_query_uses_the_ready_index(
    make_connector: Callable[..., MongoConnector],
    mongo_server: MongoServer,
    client: MongoClient[dict[str, Any]],
) -> None:
    connector = make_connector(mongo_server)
    connector.queue_push_bulk("explained", [b"a", b"b", b"c"])
    queues = client[connector.params.database]["queues"]
    # the same filter and sort as every pop and reserve (sergeant_mongo._queues)
    explained = (
        queues.find({"q": "explained", "at": {"$lte": time.time()}})
        .sort([("p", 1), ("at", 1), ("_id", 1)])
        .limit(1)
        .explain()
    )
    if "queryPlanner" in explained:  # a real mongod
        stages = list(_stages(explained["queryPlanner"]["winningPlan"]))
        scans = [s for s in stages if s.get("stage") == "IXSCAN"]
        assert [s["indexName"] for s in scans] == ["sergeant_ready"]
        assert not [s for s in stages if s.get("stage") == "SORT"], "pop sorts in memory"
    else:  # mongoeco: its memory engine scans, but its planner must list our index
        assert "sergeant_ready" in {index["name"] for index in explained["indexes"]}
