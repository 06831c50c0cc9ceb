"""Scenario 3: storage faults for ``redis``: the server's memory is full.

The common way there: the workers are down while producers keep pushing, until
the server reaches ``maxmemory`` (policy ``noeviction``, the one a queue needs)
and refuses writes that need memory. The producer pushes tasks in bulk until
refused, several times over; then a supervised worker fleet starts.

Verdict: every refusal is a ``StorageError`` that says the node is full; a
bulk push cut short says exactly how many of its tasks were stored (those and
no others are in the queue); the workers drain the full server (their
reserves, acks and extends are allowed there) and run every stored task once;
once drained, pushes work again and those tasks run too. Runs are recorded on
a second server (the sink), which the scenario does not fill.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import sergeant
from reliability_report import Outcome, record
from scenario_support import Runs, supervised, wait_for
from scenario_workers import SINK_ENV
from sergeant.broker import Broker
from sergeant.config import Connector as ConnectorConfig
from sergeant.errors import PartialPushError, StorageError
from sergeant.task import Task
from sergeant_test_support.redis_fixtures import RedisServer

MAXMEMORY = "6mb"
#: Many Redis bulk-push slices (5,000 each), more than the server holds: the
#: first refusal comes part-way through a push.
BATCH = 50_000
PAD = "x" * 150
#: Generous: the drain runs on a loaded 2-core machine too.
BOUND = 240.0


def _fill(broker: Broker, queue: str, first_id: int) -> tuple[list[int], list[StorageError]]:
    """Push batches of tasks until the server refuses one; ids stored, refusals."""
    stored: list[int] = []
    refusals: list[StorageError] = []
    next_id = first_id
    while not refusals:
        ids = list(range(next_id, next_id + BATCH))
        next_id += BATCH
        try:
            broker.push_tasks(queue, [Task(kwargs={"id": i, "pad": PAD}) for i in ids])
        except StorageError as exc:
            refusals.append(exc)
            if isinstance(exc, PartialPushError):
                stored += ids[: exc.stored]
            continue
        stored += ids
    return stored, refusals


def test_memory_full(
    redis_server_factory: Callable[..., RedisServer], redis_server: RedisServer, tmp_path: Path
) -> None:
    full = redis_server_factory(
        extra_config=(f"maxmemory {MAXMEMORY}", "maxmemory-policy noeviction")
    )
    config = ConnectorConfig(type="redis", params={"nodes": [full.node()]})
    sink = ConnectorConfig(type="redis", params={"nodes": [redis_server.node()]})
    queue = f"full-{uuid.uuid4().hex[:8]}"
    runs = Runs()
    unclear: list[str] = []
    partial = 0
    with sergeant.connect(config) as connector, sergeant.connect(sink) as records:
        broker = Broker(connector)
        expected, refusals = _fill(broker, queue, 0)
        # The first refusal again and again: a full server stays full.
        for attempt in range(1, 3):
            more, again = _fill(broker, queue, attempt * 10**6)
            expected += more
            refusals += again
        for exc in refusals:
            partial += isinstance(exc, PartialPushError)
            if "is full" not in str(exc) or "maxmemory" not in str(exc):
                unclear.append(f"{type(exc).__name__}: {exc}")
        queued_when_full = connector.queue_length(queue)
        options = {"tasks_per_transaction": 50, "lease_seconds": 30}
        extra_env = {SINK_ENV: json.dumps({"type": "redis", "params": dict(sink.params)})}
        with supervised(
            config,
            queue,
            tmp_path / "workers.log",
            concurrency=2,
            options=options,
            extra_env=extra_env,
        ):

            def ran(ids: list[int]) -> Callable[[], bool]:
                def check() -> bool:
                    runs.collect(records, queue)
                    return set(ids) <= set(runs.by_id())

                return check

            drained = wait_for(ran(expected), BOUND, "the workers to drain the full server")
            after = list(range(-100, 0))
            broker.push_tasks(queue, [Task(kwargs={"id": i}) for i in after])  # room again
            wait_for(ran(after), BOUND, "the tasks pushed after the drain to run")
        left = connector.queue_length(queue, include_delayed=True)
        in_flight = sum(node.in_flight for node in connector.queue_stats(queue))
    counts = runs.by_id()
    wanted = Counter(expected + after)
    lost = sum(1 for task_id in wanted if task_id not in counts)
    duplicates = runs.duplicates()
    extra = sorted(set(counts) - set(wanted))
    ok = not unclear and lost == 0 and duplicates == 0 and not extra and left == in_flight == 0
    record(
        Outcome(
            scenario="3. storage faults: memory full",
            backend="redis",
            load=f"{len(wanted):,} tasks, bulk pushes of {BATCH:,}, 2 worker processes",
            faults=f"maxmemory {MAXMEMORY} (noeviction) reached 3 times",
            lost=lost,
            duplicates=duplicates,
            verdict="pass" if ok else "fail",
            details=(
                f"The workers were down while the producer filled the server: "
                f"{queued_when_full:,} tasks queued. {len(refusals)} bulk pushes refused, "
                f"{partial} of them part-way (PartialPushError: the tasks it said were stored "
                f"ran, no others); first refusal: '{refusals[0]}'. "
                f"The workers then drained the full server in {drained:.1f} s; pushes worked "
                "again at once and those tasks ran too; nothing left queued or in flight."
                + (f" Unclear errors: {unclear[:3]}" if unclear else "")
                + (f" Ran but never reported stored: {extra[:5]}" if extra else "")
            ),
            figures={"refused": len(refusals), "partial": partial, "drain_s": round(drained, 1)},
        )
    )
    assert not unclear, f"refusals that do not say the node is full: {unclear[:3]}"
    assert lost == 0
    assert duplicates == 0
    assert not extra, f"tasks ran that the push errors said were not stored: {extra[:5]}"
    assert left == in_flight == 0
