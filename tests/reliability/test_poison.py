"""Scenarios 7 and 8: hostile payloads pushed raw into a queue a worker consumes.

7. **Poison payload**: 714 bytes of msgpack, our tuple extension (ExtType code 1)
   nested 200 deep around an empty array, then 20 good tasks behind it, on local,
   redis and mongo. Before the fix the decoder recursed without bound and the
   worker process died with SIGSEGV on every delivery: on Redis none of the 20
   ever ran, on local the good tasks batched with it were dead-lettered as "its
   workers kept dying".
8. **Decompression bomb**: to a worker whose encoder uses that compressor, 785
   bytes of bzip2 (64 concatenated streams), about 1 MB of zlib (one deflate
   stream) and 165 KB of lzma (64 concatenated xz streams), each expanding to
   1 GiB of zeros, then 20 good tasks. Before the fix the bzip2 bomb took 20 s
   and over 1 GiB of the worker's memory.

Each run starts one worker process under the supervisor, lets it run a warm-up
task, reads its peak resident set (VmHWM in ``/proc/<pid>/status``), then pushes
the hostile payload and the good tasks. Verdict: the hostile payload is
dead-lettered on its first delivery with a reason naming the cause, every good
task runs exactly once (lost 0, duplicates 0), nothing is left queued or in
flight, the worker process that met it is still the one that runs the good tasks
(it never died) and, for a bomb, grew by less than half the bomb's expansion.
Figures: seconds from the push until the dead letter is stored, and how much the
worker's peak resident set grew, in MiB.
"""

from __future__ import annotations

import lzma
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
import sergeant
from reliability_report import Outcome, record
from scenario_support import Runs, connector_config, peak_rss_mib, supervised, wait_for
from sergeant.broker import Broker, DeadLetter, dead_queue_name
from sergeant.encoder import DEFAULT_MAX_PAYLOAD_BYTES, TaskEncoder
from sergeant.task import Task
from sergeant_test_support.hostile import BZIP2_BOMB, GIB, nested_tuples

GOOD = 20
WARM_UP = -1
BOUND = 120.0
MiB = 1024**2
#: A bomb may cost the worker its limit (twice, while the output is joined), never this.
MAX_GROWTH_MIB = GIB / MiB / 2
POISON_CAUSE = "tuples nested more than 32 deep"
BOMB_CAUSE = f"decompresses to more than max_payload_bytes={DEFAULT_MAX_PAYLOAD_BYTES}"


def zlib_bomb(size: int, chunk: int = 16 * MiB) -> bytes:
    """One zlib stream of ``size`` zero bytes, built from one compressed ``chunk``:
    after a full flush a deflate block depends on nothing before it, so the
    chunk's blocks can be repeated (0.5 s for 1 GiB instead of compressing it)."""
    engine = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = bytes(chunk)
    blocks = engine.compress(zeros) + engine.flush(zlib.Z_FULL_FLUSH)
    last = engine.flush(zlib.Z_FINISH)
    checksum = 1
    for _ in range(size // chunk):
        checksum = zlib.adler32(zeros, checksum)
    return b"\x78\xda" + blocks * (size // chunk) + last + checksum.to_bytes(4, "big")


def lzma_bomb(size: int, chunk: int = 16 * MiB) -> bytes:
    """``size`` zero bytes as xz streams of ``chunk`` zeros in a row (as ``xz`` reads them)."""
    return lzma.compress(bytes(chunk)) * (size // chunk)


BOMBS = {
    "bzip2": lambda: BZIP2_BOMB,
    "zlib": lambda: zlib_bomb(GIB),
    "lzma": lambda: lzma_bomb(GIB),
}


@dataclass
class Settled:
    """What one worker process made of a hostile payload and the good tasks behind it."""

    runs: Runs
    letters: list[DeadLetter]
    seconds: float
    rss_before_mib: float
    rss_peak_mib: float
    pid: int
    left: int
    in_flight: int
    processes_started: int

    @property
    def growth_mib(self) -> float:
        return self.rss_peak_mib - self.rss_before_mib

    def lost(self) -> int:
        return GOOD - len(set(self.runs.by_id()) & set(range(GOOD)))

    def reason(self) -> str:
        return self.letters[0].reason if self.letters else "(no dead letter)"

    def clean(self, hostile: bytes, cause: str) -> bool:
        """Every invariant of the verdict."""
        return (
            self.lost() == 0
            and self.runs.duplicates() == 0
            and len(self.letters) == 1
            and self.letters[0].payload == hostile
            and self.letters[0].deliveries == 1
            and cause in self.letters[0].reason
            and self.left == 0
            and self.in_flight == 0
            and {record["pid"] for record in self.runs.records} == {self.pid}
            and self.processes_started == 1
        )


def _settle(
    backend: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    hostile: bytes,
    compressor: str | None,
) -> Settled:
    """One worker process runs a warm-up task, then meets ``hostile`` and the good tasks."""
    config = connector_config(backend, tmp_path, request)
    queue = f"hostile-{uuid.uuid4().hex[:8]}"
    options = {
        "tasks_per_transaction": 10,
        "lease_seconds": 5.0,
        "max_deliveries": 3,
        "encoder": {"compressor": compressor},
    }
    runs = Runs()
    log = tmp_path / "worker.log"
    with sergeant.connect(config) as connector:
        broker = Broker(connector, TaskEncoder(compressor=compressor))

        def ran(ids: set[int]) -> bool:
            runs.collect(connector, queue)
            return ids <= set(runs.by_id())

        with supervised(config, queue, log, options=options):
            broker.push_task(queue, Task(kwargs={"id": WARM_UP}))
            wait_for(lambda: ran({WARM_UP}), BOUND, "the worker to run its warm-up task")
            pid = int(runs.records[0]["pid"])
            before = peak_rss_mib(pid)
            connector.queue_push(queue, hostile)
            broker.push_tasks(queue, [Task(kwargs={"id": i}) for i in range(GOOD)])
            seconds = wait_for(
                lambda: connector.queue_length(dead_queue_name(queue), include_delayed=True) >= 1,
                BOUND,
                "the hostile payload to be dead-lettered",
            )
            peak = peak_rss_mib(pid)
            wait_for(lambda: ran(set(range(GOOD))), BOUND, "every good task to run")
        runs.collect(connector, queue)
        return Settled(
            runs=runs,
            letters=broker.dead_letters(queue),
            seconds=seconds,
            rss_before_mib=before,
            rss_peak_mib=max(peak, before),
            pid=pid,
            left=connector.queue_length(queue, include_delayed=True),
            in_flight=sum(node.in_flight for node in connector.queue_stats(queue)),
            processes_started=log.read_text().count("started worker process"),
        )


@pytest.mark.parametrize("backend", ["local", "redis", "mongo"])
def test_poison_payload(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    poison = nested_tuples(200)
    got = _settle(backend, tmp_path, request, poison, None)
    verdict = got.clean(poison, POISON_CAUSE)
    record(
        Outcome(
            scenario="7. poison payload",
            backend=backend,
            load=f"{len(poison)}-byte msgpack (tuple ext nested 200 deep), then "
            f"{GOOD} good tasks; 1 worker process",
            faults="the payload pushed raw into the queue",
            lost=got.lost(),
            duplicates=got.runs.duplicates(),
            verdict="pass" if verdict else "fail",
            details=f"Dead-lettered on its first delivery {got.seconds:.2f} s after the push, "
            f"reason: {got.reason()!r}; each good task ran once, in the same worker process "
            f"(processes started: {got.processes_started}); peak RSS {got.rss_peak_mib:.0f} MiB "
            f"(+{got.growth_mib:.0f} MiB).",
            figures={
                "seconds_to_dead_letter": round(got.seconds, 3),
                "rss_growth_mib": round(got.growth_mib, 1),
            },
        )
    )
    assert verdict, got


@pytest.mark.parametrize(
    ("backend", "compressor"),
    [
        ("local", "bzip2"),
        ("redis", "bzip2"),
        ("mongo", "bzip2"),
        ("local", "zlib"),
        ("redis", "zlib"),
        ("local", "lzma"),
        ("redis", "lzma"),
    ],
)
def test_decompression_bomb(
    backend: str, compressor: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    bomb = BOMBS[compressor]()
    got = _settle(backend, tmp_path, request, bomb, compressor)
    verdict = got.clean(bomb, BOMB_CAUSE) and got.growth_mib < MAX_GROWTH_MIB
    record(
        Outcome(
            scenario=f"8. decompression bomb: {compressor}",
            backend=backend,
            load=f"{len(bomb):,} bytes of {compressor} expanding to 1 GiB, then {GOOD} good "
            f"tasks; max_payload_bytes {DEFAULT_MAX_PAYLOAD_BYTES // MiB} MiB (the default)",
            faults="the bomb pushed raw into the queue",
            lost=got.lost(),
            duplicates=got.runs.duplicates(),
            verdict="pass" if verdict else "fail",
            details=f"Dead-lettered on its first delivery {got.seconds:.2f} s after the push, "
            f"reason: {got.reason()!r}; the worker's peak RSS grew by {got.growth_mib:.0f} MiB "
            f"(from {got.rss_before_mib:.0f} to {got.rss_peak_mib:.0f} MiB); processes "
            f"started: {got.processes_started}.",
            figures={
                "seconds_to_dead_letter": round(got.seconds, 3),
                "rss_growth_mib": round(got.growth_mib, 1),
                "peak_rss_mib": round(got.rss_peak_mib, 1),
            },
        )
    )
    assert verdict, got
