"""Scenario 10's other process: holds locks, sets keys and pushes items through
nodes spelled its way, then waits for a line on stdin before it lets go.

Usage: ``python node_names_holder.py CONNECTOR_JSON TAG COUNT`` where
CONNECTOR_JSON is ``{"type": ..., "params": ...}``.
"""

from __future__ import annotations

import json
import sys

import sergeant


def main(connector: str, tag: str, count: int) -> int:
    spec = json.loads(connector)
    config = sergeant.config.Connector(type=spec["type"], params=spec["params"])
    with sergeant.connect(config) as connector:
        held = []
        for number in range(count):
            name = f"{tag}-{number}"
            lock = connector.lock(name)
            if not lock.acquire(timeout=0, ttl=120):
                print(f"could not take {name}", flush=True)
                return 2
            held.append(lock)
            connector.key_set(name, name.encode())
        connector.queue_push_bulk(tag, [f"item-{n}".encode() for n in range(count)])
        print("ready", flush=True)
        sys.stdin.readline()
        for lock in held:
            lock.release()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
