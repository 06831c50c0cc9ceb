"""One process of the concurrency scenario (4): ``python concurrency_child.py SPEC_JSON``.

For ``seconds`` it runs a random mix of push, bulk push, reserve, ack,
ack-and-reserve, release, dead-letter and lock acquire/release directly on the
connector API, then writes what it did to its own JSON-lines log (events in
:mod:`concurrency_checks`). Times are ``time.monotonic()``: CLOCK_MONOTONIC is
one clock for every process of the machine, so the parent can order events
across processes. The process is never killed, so the log is written once at
the end (and on an error, which it records before exiting with status 1).
"""

from __future__ import annotations

import json
import random
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from typing import Any

import sergeant
from sergeant.config import Connector as ConnectorConfig
from sergeant.connector import Priority

#: Lease lengths: the short ones run out while held, so stale receipts get used.
LEASES = (0.2, 0.5, 2.0)
#: Seconds a released or pushed item may be delayed by.
MAX_DELAY = 0.5
LOCK_TTL = 10
MAX_HELD = 40

WEIGHTS = {
    "push": 18,
    "push_bulk": 6,
    "reserve": 18,
    "ack": 18,
    "ack_and_reserve": 8,
    "release": 8,
    "dead": 3,
    "lock": 8,
}


@dataclass
class Held:
    """A delivery this process holds: when its reserve call started and returned."""

    id: str
    receipt: str
    deliveries: int
    lease: float
    started: float
    returned: float


class Child:
    """The op mix of one process; ``events`` is its log."""

    def __init__(self, connector: sergeant.Connector, spec: dict[str, Any]) -> None:
        self.connector = connector
        self.queue: str = spec["queue"]
        self.dead_queue = f"{self.queue}:dead"
        self.locks: list[str] = spec["locks"]
        self.proc: int = spec["proc"]
        self.rng = random.Random(spec["seed"])
        self.seq = 0
        self.held: list[Held] = []
        self.events: list[list[Any]] = []
        self.ops: Counter[str] = Counter()

    def new_id(self) -> str:
        self.seq += 1
        return f"{self.proc}:{self.seq}"

    def delay(self) -> float | None:
        return time.time() + self.rng.uniform(0, MAX_DELAY) if self.rng.random() < 0.2 else None

    def run(self, seconds: float) -> None:
        kinds = list(WEIGHTS)
        weights = list(WEIGHTS.values())
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            kind = self.rng.choices(kinds, weights)[0]
            if kind in ("ack", "ack_and_reserve", "release", "dead") and not self.held:
                kind = "reserve"
            elif kind == "reserve" and len(self.held) >= MAX_HELD:
                kind = "ack"
            self.ops[kind] += 1
            getattr(self, kind)()

    # Ops -------------------------------------------------------------------

    def push(self) -> None:
        item = self.new_id()
        priority: Priority = self.rng.choice(("NORMAL", "HIGH"))
        ok = self.connector.queue_push(
            self.queue, item.encode(), priority=priority, consumable_from=self.delay()
        )
        self.events.append(["push", [item], ok])

    def push_bulk(self) -> None:
        items = [self.new_id() for _ in range(self.rng.randint(2, 50))]
        ok = self.connector.queue_push_bulk(
            self.queue,
            [item.encode() for item in items],
            priority=self.rng.choice(("NORMAL", "HIGH")),
            consumable_from=self.delay(),
        )
        self.events.append(["push", items, ok])

    def _reserved(self, started: float, lease: float, deliveries: list[Any]) -> None:
        returned = time.monotonic()
        got = []
        for delivery in deliveries:
            item = delivery.item.decode()
            self.held.append(
                Held(item, delivery.receipt, delivery.deliveries, lease, started, returned)
            )
            got.append([item, delivery.deliveries])
        self.events.append(["reserve", started, returned, lease, got])

    def reserve(self) -> None:
        lease = self.rng.choice(LEASES)
        started = time.monotonic()
        got = self.connector.queue_reserve(self.queue, self.rng.randint(1, 10), lease)
        self._reserved(started, lease, got)

    def _take(self) -> Held:
        return self.held.pop(self.rng.randrange(len(self.held)))

    def _ack_event(self, held: Held, started: float, acked: int, how: str) -> None:
        self.events.append(["ack", held.id, held.deliveries, acked, started, time.monotonic(), how])

    def ack(self) -> None:
        for _ in range(min(len(self.held), self.rng.randint(1, 3))):
            held = self._take()
            started = time.monotonic()
            acked = self.connector.queue_ack(self.queue, [held.receipt])
            self._ack_event(held, started, acked, "ack")

    def ack_and_reserve(self) -> None:
        held = self._take()
        lease = self.rng.choice(LEASES)
        started = time.monotonic()
        acked, got = self.connector.queue_ack_and_reserve(
            self.queue, [held.receipt], self.rng.randint(1, 10), lease
        )
        self._ack_event(held, started, acked, "ack_and_reserve")
        self._reserved(started, lease, got)

    def release(self) -> None:
        held = self._take()
        started = time.monotonic()
        released = self.connector.queue_release(
            self.queue, [held.receipt], consumable_from=self.delay()
        )
        self.events.append(["release", held.id, held.deliveries, released, started])

    def dead(self) -> None:
        """Dead-letter as the worker does: off the queue (ack), onto ``<queue>:dead``."""
        held = self._take()
        started = time.monotonic()
        acked = self.connector.queue_ack(self.queue, [held.receipt])
        self._ack_event(held, started, acked, "dead")
        if acked:
            self.connector.queue_push(self.dead_queue, held.id.encode())

    def lock(self) -> None:
        name = self.rng.choice(self.locks)
        lock = self.connector.lock(name)
        if not lock.acquire(timeout=0.2, check_interval=0.01, ttl=LOCK_TTL):
            self.events.append(["lock_busy", name])
            return
        start = time.monotonic()
        time.sleep(self.rng.uniform(0, 0.01))  # the critical section
        end = time.monotonic()
        released = lock.release()
        self.events.append(["lock", name, start, end, released])


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    config = ConnectorConfig(type=spec["connector"]["type"], params=spec["connector"]["params"])
    status = 0
    with sergeant.connect(config) as connector:
        child = Child(connector, spec)
        try:
            child.run(spec["seconds"])
        except Exception:
            child.events.append(["error", traceback.format_exc()])
            status = 1
        with open(spec["log"], "w") as log:
            for event in child.events:
                log.write(json.dumps(event) + "\n")
            log.write(json.dumps(["ops", dict(child.ops)]) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
