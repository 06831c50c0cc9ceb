"""Several nodes: a node that is down is skipped, and used again once it is back."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from pymongo import MongoClient
from sergeant.errors import ConnectorUnavailableError
from sergeant.testing import wait_until
from sergeant_mongo import MongoConnector
from sergeant_test_support.mongo_fixtures import MongoServer, start_mongoeco

Factory = Callable[[], MongoServer]
Make = Callable[..., MongoConnector]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _items_on(server: MongoServer, database: str, queue: str) -> list[bytes]:
    client: MongoClient[dict[str, object]] = MongoClient(
        server.host, server.port, directConnection=True, serverSelectionTimeoutMS=2000
    )
    try:
        found = client[database]["queues"].find({"q": queue}, {"item": 1, "_id": 0})
        return [bytes(doc["item"]) for doc in found]  # type: ignore[arg-type]
    finally:
        client.close()


def _count_on(server: MongoServer, database: str, queue: str) -> int:
    return len(_items_on(server, database, queue))


def test_pushes_and_pops_go_on_when_a_node_dies(
    mongo_server_factory: Factory, make_connector: Make
) -> None:
    alive, doomed = mongo_server_factory(), mongo_server_factory()
    connector = make_connector(alive, doomed, connect_timeout=1.0, retry_down_after=0.5)
    database = connector.params.database
    for i in range(4):
        connector.queue_push("work", b"before-%d" % i)
    kept = _items_on(alive, database, "work")  # pushes take turns, from a random first node
    assert len(kept) == 2
    assert _count_on(doomed, database, "work") == 2

    doomed.kill()
    pushed = [b"after-%d" % i for i in range(6)]
    for item in pushed:
        assert connector.queue_push("work", item) is True
    assert connector.queue_push_bulk("work", [b"bulk-1", b"bulk-2"]) is True
    got: list[bytes] = []
    while (popped := connector.queue_pop("work")) is not None:
        got.append(popped)
    # the dead node's items died with its in-memory engine; nothing pushed since is lost
    assert sorted(got) == sorted([*kept, *pushed, b"bulk-1", b"bulk-2"])
    assert len(connector.queue_stats("work")) == 1  # only the reachable node reports

    # the node is tried again after its back-off and takes pushes once it is back
    restarted = _restart_on(doomed)
    wait_until(
        lambda: connector.queue_push("back", b"x") and _count_on(restarted, database, "back") > 0,
        timeout=30,
        message="pushes to reach the restarted node",
    )


def _restart_on(server: MongoServer) -> MongoServer:
    """A fresh mongoeco process on the dead server's port (it listens on port 0 otherwise)."""
    from sergeant_test_support import mongo_fixtures

    replacement = mongo_fixtures.start_mongoeco(port=server.port)
    server.process = replacement.process  # stopped with the factory's servers
    return replacement


def test_keys_and_locks_on_a_dead_node_fail_clearly(
    mongo_server_factory: Factory, make_connector: Make
) -> None:
    alive, doomed = mongo_server_factory(), mongo_server_factory()
    connector = make_connector(alive, doomed, connect_timeout=1.0, retry_down_after=0.5)
    doomed.kill()
    on_dead = next(
        k
        for k in (f"key-{i}" for i in range(100))
        if connector._owner(k).label.endswith(f":{doomed.port}")
    )
    on_live = next(
        k
        for k in (f"key-{i}" for i in range(100))
        if connector._owner(k).label.endswith(f":{alive.port}")
    )
    assert connector.key_set(on_live, b"v") is True
    with pytest.raises(ConnectorUnavailableError, match=rf"127\.0\.0\.1:{doomed.port}"):
        connector.key_set(on_dead, b"v")
    with pytest.raises(ConnectorUnavailableError, match=r"unreachable"):
        connector.lock(on_dead).is_locked()


def test_construction_with_one_node_unreachable(
    mongo_server_factory: Factory, make_connector: Make
) -> None:
    alive = mongo_server_factory()
    dead = MongoServer(host="127.0.0.1", port=_free_port())
    connector = make_connector(dead, alive, connect_timeout=0.5)
    assert connector.queue_push("q", b"x") is True
    assert connector.queue_pop("q") == b"x"
    with pytest.raises(ConnectorUnavailableError, match="no mongo node could be reached"):
        make_connector(dead, connect_timeout=0.5)


def test_start_mongoeco_is_stoppable_by_pid() -> None:
    server = start_mongoeco()
    assert server.pid is not None
    server.stop()
    assert server.process is not None
    assert server.process.poll() is not None
