"""Scenarios 7 and 8: hostile payloads pushed raw into a queue a worker consumes.

7. **Poison payload**: 714 bytes of msgpack, our tuple extension (ExtType code 1)
   nested 200 deep around an empty array, then 20 good tasks behind it. Before
   the fix the decoder recursed without bound and the worker process died with
   SIGSEGV on every delivery: on Redis none of the 20 ever ran, on local the
   good tasks batched with it were dead-lettered as "its workers kept dying".
8. **Decompression bomb**: to a worker whose encoder uses that compressor, 785
   bytes of bzip2 that expand to 1 GiB (and zlib / lzma bombs of 256 MiB), then
   5 good tasks. Before the fix one took 2 GB of RSS and 20 s.

Verdict: the hostile payload is dead-lettered on its first delivery with a
reason naming the cause, every good task runs exactly once, nothing is left
queued or in flight, and the worker process that met it is still the same one
(it never died). Figures: seconds until dead-lettered, peak RSS of the worker.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import sergeant
from reliability_report import Outcome, record
from scenario_support import Runs, children, connector_config, peak_rss_mib, supervised, wait_for
from sergeant.broker import Broker, dead_queue_name
from sergeant.encoder import TaskEncoder
from sergeant.task import Task
from sergeant_test_support.hostile import BZIP2_BOMB, GIB, nested_tuples, zeros_bomb

GOOD_BEHIND_POISON = 20
GOOD_BEHIND_BOMB = 5
BOUND = 120.0


@dataclass
class Settled:
    """What one worker made of a hostile payload and the good tasks behind it."""

    runs: Runs
    reasons: list[str]
    seconds: float
    rss_mib: float
    left: int
    processes_started: int

    def lost(self, good: int) -> int:
        return good - len(self.runs.by_id())

    def clean(self, good: int, cause: str) -> bool:
        return (
            self.lost(good) == 0
            and self.runs.duplicates() == 0
            and len(self.reasons) == 1
            and cause in self.reasons[0]
            and self.left == 0
            and self.processes_started == 1
        )


def _settle(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    hostile: bytes,
    good: int,
    compressor: str | None,
) -> Settled:
    """Push ``hostile`` then ``good`` tasks; run one worker process until all is settled."""
    config = connector_config(backend, tmp_path, request)
    queue = f"hostile-{uuid.uuid4().hex[:8]}"
    runs = Runs()
    options = {
        "tasks_per_transaction": 10,
        "lease_seconds": 5.0,
        "max_deliveries": 3,
        "encoder": {"compressor": compressor},
    }
    log = tmp_path / "worker.log"
    with sergeant.connect(config) as connector:
        broker = Broker(connector, TaskEncoder(compressor=compressor))
        connector.queue_push(queue, hostile)
        broker.push_tasks(queue, [Task(kwargs={"id": i}) for i in range(good)])

        def all_ran() -> bool:
            runs.collect(connector, queue)
            return len(runs.by_id()) >= good

        with supervised(config, queue, log, options=options) as supervisor:
            seconds = wait_for(
                lambda: connector.queue_length(dead_queue_name(queue), include_delayed=True) >= 1,
                BOUND,
                "the hostile payload to be dead-lettered",
            )
            workers = children(supervisor.pid)
            wait_for(all_ran, BOUND, "every good task to run")
            rss = max((peak_rss_mib(pid) for pid in workers), default=0.0)
        runs.collect(connector, queue)
        return Settled(
            runs=runs,
            reasons=[entry.reason for entry in broker.dead_letters(queue)],
            seconds=seconds,
            rss_mib=rss,
            left=connector.queue_length(queue, include_delayed=True),
            processes_started=log.read_text().count("started worker process"),
        )


@pytest.mark.parametrize("backend", ["local", "redis"])
def test_poison_payload(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    poison = nested_tuples(200)
    got = _settle(backend, tmp_path, request, poison, GOOD_BEHIND_POISON, None)
    verdict = got.clean(GOOD_BEHIND_POISON, "nested")
    record(
        Outcome(
            scenario="7. poison payload",
            backend=backend,
            load=f"{len(poison)}-byte msgpack (tuple ext nested 200 deep), then "
            f"{GOOD_BEHIND_POISON} good tasks; 1 worker process",
            faults="the payload pushed raw into the queue",
            lost=got.lost(GOOD_BEHIND_POISON),
            duplicates=got.runs.duplicates(),
            verdict="pass" if verdict else "fail",
            details=f"Dead-lettered after {got.seconds:.2f} s, reason: {got.reasons}; each good "
            f"task ran once; worker processes started: {got.processes_started} (it never died); "
            f"peak RSS {got.rss_mib:.0f} MiB.",
            figures={"seconds_to_dead_letter": round(got.seconds, 3)},
        )
    )
    assert verdict, got


@pytest.mark.parametrize(
    ("backend", "compressor", "size"),
    [
        ("local", "bzip2", GIB),
        ("redis", "bzip2", GIB),
        ("local", "zlib", 256 * 1024**2),
        ("local", "lzma", 256 * 1024**2),
    ],
)
def test_decompression_bomb(
    backend: str, compressor: str, size: int, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    bomb = BZIP2_BOMB if compressor == "bzip2" else zeros_bomb(compressor, size)
    got = _settle(backend, tmp_path, request, bomb, GOOD_BEHIND_BOMB, compressor)
    verdict = got.clean(GOOD_BEHIND_BOMB, "decompression bomb") and got.rss_mib < 512
    record(
        Outcome(
            scenario=f"8. decompression bomb: {compressor}",
            backend=backend,
            load=f"{len(bomb):,} bytes expanding to {size // 1024**2:,} MiB, then "
            f"{GOOD_BEHIND_BOMB} good tasks; max_payload_bytes 64 MiB (the default)",
            faults="the bomb pushed raw into the queue",
            lost=got.lost(GOOD_BEHIND_BOMB),
            duplicates=got.runs.duplicates(),
            verdict="pass" if verdict else "fail",
            details=f"Dead-lettered after {got.seconds:.2f} s; peak RSS of the worker "
            f"{got.rss_mib:.0f} MiB; worker processes started: {got.processes_started}.",
            figures={
                "seconds_to_dead_letter": round(got.seconds, 3),
                "peak_rss_mib": round(got.rss_mib),
            },
        )
    )
    assert verdict, got
