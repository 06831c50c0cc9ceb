"""Scenario 10: two processes list the same nodes spelled two ways.

One process names the servers ``localhost:PORT``, the other ``127.0.0.1:PORT``
or a url (``redis://127.0.0.1:PORT/0``, ``mongodb://127.0.0.1:PORT/``), on
two Redis nodes and on two Mongo nodes. A third case lists named Redis nodes in
the other order too: nodes without a ``name`` are named by their position, so
a different order is only supported with names (see ``sergeant.nodes``).
The first process takes 40 locks, sets 40 keys and pushes 40 items; the second
then tries each lock, reads each key and pops the queue. Before the fix
rendezvous hashing keyed on the host as spelled, so 15 to 20 of the 40 lock
names were held by both processes at once (on each backend, in each case).

Verdict: no lock is held by both, every key is found, every item is popped.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sergeant
from reliability_report import Outcome, record
from scenario_support import HERE

COUNT = 40
Nodes = Callable[[list[Any]], list[Any]]


def _redis(host: str) -> Nodes:
    return lambda servers: [{"host": host, "port": s.port} for s in servers]


def _mongo(host: str) -> Nodes:
    return lambda servers: [{"host": host, "port": s.port} for s in servers]


#: case: (backend, the first process's nodes, the second's)
CASES: dict[str, tuple[str, Nodes, Nodes]] = {
    "localhost vs 127.0.0.1": ("redis", _redis("localhost"), _redis("127.0.0.1")),
    "localhost vs url": (
        "redis",
        _redis("localhost"),
        lambda servers: [f"redis://127.0.0.1:{s.port}/0" for s in servers],
    ),
    "named, other order and spelling": (
        "redis",
        lambda servers: [
            {"host": "localhost", "port": s.port, "name": f"node-{i}"}
            for i, s in enumerate(servers)
        ],
        lambda servers: [
            {"url": f"redis://127.0.0.1:{s.port}/0", "name": f"node-{i}"}
            for i, s in reversed(list(enumerate(servers)))
        ],
    ),
    "mongo localhost vs 127.0.0.1": ("mongo", _mongo("localhost"), _mongo("127.0.0.1")),
    "mongo localhost vs uri": (
        "mongo",
        _mongo("localhost"),
        lambda servers: [
            {"uri": f"mongodb://127.0.0.1:{s.port}/?directConnection=true"} for s in servers
        ],
    ),
}


def _servers(backend: str, request: pytest.FixtureRequest) -> list[Any]:
    if backend == "redis":
        servers: list[Any] = request.getfixturevalue("redis_servers")
        assert all(server.password is None for server in servers)
        return servers
    servers = [request.getfixturevalue("mongo_server"), request.getfixturevalue("mongo_server_2")]
    if any(server.uri is not None for server in servers):
        pytest.skip("spells the test servers' hosts itself: needs the local mongoeco servers")
    return servers


def _params(backend: str, nodes: list[Any], database: str) -> dict[str, Any]:
    if backend == "redis":
        return {"nodes": nodes}
    from sergeant_test_support.mongo_fixtures import LIVE_TIMEOUT

    return {"nodes": nodes, "database": database, "connect_timeout": LIVE_TIMEOUT}


@pytest.mark.parametrize("case", list(CASES))
def test_two_spellings_agree(case: str, request: pytest.FixtureRequest) -> None:
    backend, first_nodes, second_nodes = CASES[case]
    servers = _servers(backend, request)
    database = f"names_{uuid.uuid4().hex[:10]}"
    first = _params(backend, first_nodes(servers), database)
    second = _params(backend, second_nodes(servers), database)
    tag = f"names-{uuid.uuid4().hex[:8]}"
    holder = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "node_names_holder.py"),
            json.dumps({"type": backend, "params": first}),
            tag,
            str(COUNT),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdin is not None
        assert holder.stdout.readline().strip() == "ready"
        config = sergeant.config.Connector(type=backend, params=second)
        with sergeant.connect(config) as connector:
            names = [f"{tag}-{n}" for n in range(COUNT)]
            held_by_both = [name for name in names if connector.lock(name).acquire(timeout=0)]
            keys_found = sum(connector.key_get(name) == name.encode() for name in names)
            popped = connector.queue_pop_bulk(tag, COUNT * 2)
        holder.stdin.write("done\n")
        holder.stdin.flush()
        assert holder.wait(60) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
    verdict = not held_by_both and keys_found == COUNT and len(popped) == COUNT
    record(
        Outcome(
            scenario=f"10. nodes named two ways: {case.removeprefix('mongo ')}",
            backend=f"{backend} ({len(servers)} nodes)",
            load=f"{COUNT} locks, {COUNT} keys, {COUNT} queue items",
            faults="the second process spells the same nodes differently"
            + (" and lists them in the other order" if "order" in case else ""),
            lost=COUNT - len(popped),
            duplicates=None,
            verdict="pass" if verdict else "fail",
            details=f"Locks held by both processes: {len(held_by_both)}; keys found by the "
            f"other process: {keys_found} of {COUNT}; items popped: {len(popped)}.",
            figures={"held_by_both": len(held_by_both), "keys_found": keys_found},
        )
    )
    assert verdict, (held_by_both, keys_found, len(popped))
