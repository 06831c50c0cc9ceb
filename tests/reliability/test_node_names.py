"""Scenario 10: two processes list the same Redis nodes spelled two ways.

One process names the two servers ``localhost:PORT``, the other
``127.0.0.1:PORT`` (or the url form ``redis://127.0.0.1:PORT/0``). The first
takes 40 locks, sets 40 keys and pushes 40 items; the second then tries each
lock, reads each key and pops the queue. Before the fix rendezvous hashing keyed
on the host as spelled, so 16 of 40 lock names were held by both processes at
once. Nodes are now hashed by their ``name`` param, else their position.

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
from sergeant_test_support.redis_fixtures import RedisServer

COUNT = 40


#: How the second process writes a node the first one calls ``localhost:PORT``.
SPELLINGS: dict[str, Callable[[RedisServer], Any]] = {
    "localhost vs 127.0.0.1": lambda s: {"host": "127.0.0.1", "port": s.port},
    "localhost vs url": lambda s: f"redis://127.0.0.1:{s.port}/0",
}


@pytest.mark.parametrize("other", sorted(SPELLINGS))
def test_two_spellings_agree(other: str, redis_servers: list[RedisServer]) -> None:
    assert all(server.password is None for server in redis_servers)
    first = [{"host": "localhost", "port": s.port} for s in redis_servers]
    second = [SPELLINGS[other](s) for s in redis_servers]
    tag = f"names-{uuid.uuid4().hex[:8]}"
    holder = subprocess.Popen(
        [sys.executable, str(HERE / "node_names_holder.py"), json.dumps(first), tag, str(COUNT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdin is not None
        assert holder.stdout.readline().strip() == "ready"
        config = sergeant.config.Connector(type="redis", params={"nodes": second})
        with sergeant.connect(config) as connector:
            names = [f"{tag}-{n}" for n in range(COUNT)]
            held_by_both = [name for name in names if connector.lock(name).acquire(timeout=0)]
            keys_found = sum(connector.key_get(name) == name.encode() for name in names)
            popped = connector.queue_pop_bulk(tag, COUNT * 2)
        holder.stdin.write("done\n")
        holder.stdin.flush()
        assert holder.wait(30) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
    verdict = not held_by_both and keys_found == COUNT and len(popped) == COUNT
    record(
        Outcome(
            scenario=f"10. nodes named two ways: {other}",
            backend=f"redis ({len(redis_servers)} nodes)",
            load=f"{COUNT} locks, {COUNT} keys, {COUNT} queue items",
            faults="the second process spells the same nodes differently",
            lost=COUNT - len(popped),
            duplicates=None,
            verdict="pass" if verdict else "fail",
            details=f"Locks held by both processes: {len(held_by_both)}; keys found by the "
            f"other process: {keys_found} of {COUNT}; items popped: {len(popped)}.",
            figures={"held_by_both": len(held_by_both), "keys_found": keys_found},
        )
    )
    assert verdict, (held_by_both, keys_found, len(popped))
