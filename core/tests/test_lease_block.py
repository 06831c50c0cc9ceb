"""The lease block a supervised worker shares with its supervisor, and the guard that reads it.

Proves: the file's layout (32-byte header, queue, NUL-joined receipts) as the
module documents it; that a reader never acts on a half-written block, even
against a writer in another process rewriting it as fast as it can (the
seqlock); that bad blocks raise :class:`LeaseBlockError` instead of yielding
receipts; that the worker's :class:`LeaseKeeper` publishes what it holds before
a task can starve its thread; and the supervisor's stale detection
(:meth:`LeaseGuard.check`): a process's receipts are extended only while its
heartbeat is older than half its lease, at most every third of a lease, and
never for a process that ended or was forgotten. No backend is installed here:
the guard extends through a connector that records its calls.
"""

from __future__ import annotations

import logging
import os
import struct
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from minimal_connector import build
from sergeant._lease_block import CAPACITY, LEASE_ENV, LeaseBlock, LeaseBlockError, LeaseState
from sergeant._lease_guard import LeaseGuard
from sergeant.connector import Connector
from sergeant.testing import wait_until
from sergeant.worker._lease import LeaseKeeper

HEADER = struct.Struct("<IIddII")
MAGIC = 0x53474C31
LEASE = 3.0


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "worker-1.leases")


@pytest.fixture
def block(path: str) -> Iterator[LeaseBlock]:
    opened = LeaseBlock(path)
    yield opened
    opened.close()


def header(path: str) -> tuple[int, int, float, float, int, int]:
    with open(path, "rb") as raw:
        return HEADER.unpack(raw.read(HEADER.size))  # type: ignore[return-value]


# The file --------------------------------------------------------------------------


def test_a_block_the_worker_has_not_started_reads_as_none(block: LeaseBlock) -> None:
    assert block.read() is None


def test_the_file_holds_a_header_then_the_queue_then_the_receipts_joined_by_nul(
    block: LeaseBlock, path: str
) -> None:
    block.start("jobs", 1.5, 100.25)
    assert block.publish(["r-1", "r-2", "ré"]) is True
    magic, seq, heartbeat, lease, queue_len, data_len = header(path)
    assert (magic, heartbeat, lease, queue_len) == (MAGIC, 100.25, 1.5, 4)
    assert seq % 2 == 0  # no write in progress
    with open(path, "rb") as raw:
        raw.seek(HEADER.size)
        body = raw.read(queue_len + data_len)
    assert body == b"jobs" + "r-1\0r-2\0ré".encode()
    assert block.read() == LeaseState("jobs", 1.5, 100.25, ["r-1", "r-2", "ré"])


def test_the_file_is_sparse_private_and_of_the_full_capacity(block: LeaseBlock, path: str) -> None:
    block.start("jobs", LEASE, 1.0)
    block.publish(["r"])
    found = os.stat(path)
    assert found.st_size == CAPACITY
    assert found.st_blocks * 512 < CAPACITY // 8  # only the pages written take disk
    assert found.st_mode & 0o777 == 0o600


def test_every_write_moves_the_sequence_to_the_next_even_number(
    block: LeaseBlock, path: str
) -> None:
    block.start("jobs", LEASE, 1.0)
    seqs = [header(path)[1]]
    block.publish(["a"])
    seqs.append(header(path)[1])
    block.beat(2.0)
    seqs.append(header(path)[1])
    block.publish([])
    seqs.append(header(path)[1])
    assert all(seq % 2 == 0 for seq in seqs)
    assert seqs == sorted(set(seqs))


def test_a_beat_moves_the_heartbeat_and_keeps_the_receipts(block: LeaseBlock) -> None:
    block.start("jobs", LEASE, 1.0)
    block.publish(["a", "b"])
    block.beat(7.5)
    assert block.read() == LeaseState("jobs", LEASE, 7.5, ["a", "b"])


def test_publishing_fewer_receipts_replaces_the_longer_list(block: LeaseBlock) -> None:
    block.start("jobs", LEASE, 1.0)
    block.publish([f"receipt-{i}" for i in range(100)])
    block.publish(["only"])
    assert block.read() == LeaseState("jobs", LEASE, 1.0, ["only"])
    block.publish([])
    assert block.read() == LeaseState("jobs", LEASE, 1.0, [])


def test_receipts_that_do_not_fit_or_hold_a_nul_are_not_published(path: str) -> None:
    small = LeaseBlock(path, capacity=64)
    try:
        small.start("q", LEASE, 1.0)
        assert small.publish(["fits"]) is True
        assert small.publish(["x" * 40]) is False  # 32 + 1 + 40 > 64
        state = small.read()
        assert state is not None
        assert state.receipts == []
        assert small.publish(["a\0b", "c"]) is False  # would read back as three receipts
        state = small.read()
        assert state is not None
        assert state.receipts == []
    finally:
        small.close()


def test_the_supervisor_reads_what_the_worker_wrote_through_its_own_mapping(
    block: LeaseBlock, path: str
) -> None:
    supervisor_side = LeaseBlock(path)
    try:
        assert supervisor_side.read() is None
        block.start("jobs", LEASE, 1.0)
        block.publish(["a"])
        assert supervisor_side.read() == LeaseState("jobs", LEASE, 1.0, ["a"])
        block.beat(2.0)
        state = supervisor_side.read()
        assert state is not None
        assert state.heartbeat == 2.0
    finally:
        supervisor_side.close()


def test_reopening_a_file_keeps_what_it_holds(block: LeaseBlock, path: str) -> None:
    block.start("jobs", LEASE, 1.0)
    block.publish(["a", "b"])
    again = LeaseBlock(path)
    try:
        assert again.read() == LeaseState("jobs", LEASE, 1.0, ["a", "b"])
    finally:
        again.close()


def test_the_worker_finds_its_block_through_the_environment(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(LEASE_ENV, raising=False)
    assert LeaseBlock.from_env() is None
    monkeypatch.setenv(LEASE_ENV, path)
    found = LeaseBlock.from_env()
    assert found is not None
    assert found.path == path
    found.close()


# Bad blocks ------------------------------------------------------------------------


def _damage(path: str, offset: int, data: bytes) -> None:
    with open(path, "r+b") as raw:
        raw.seek(offset)
        raw.write(data)


def test_a_block_with_a_foreign_magic_number_is_refused(block: LeaseBlock, path: str) -> None:
    block.start("jobs", LEASE, 1.0)
    _damage(path, 0, struct.pack("<I", 0xDEADBEEF))
    with pytest.raises(LeaseBlockError, match="magic"):
        block.read()


def test_lengths_past_the_end_are_refused(path: str) -> None:
    small = LeaseBlock(path, capacity=128)
    try:
        small.start("jobs", LEASE, 1.0)
        _damage(path, 28, struct.pack("<I", 10_000))
        with pytest.raises(LeaseBlockError, match="past the end"):
            small.read()
    finally:
        small.close()


def test_receipts_that_are_not_utf8_are_refused(block: LeaseBlock, path: str) -> None:
    block.start("jobs", LEASE, 1.0)
    block.publish(["ab"])
    _damage(path, HEADER.size + len("jobs"), b"\xff\xfe")
    with pytest.raises(LeaseBlockError, match="UTF-8"):
        block.read()


def test_a_writer_that_died_mid_write_is_reported_not_waited_for(
    block: LeaseBlock, path: str
) -> None:
    block.start("jobs", LEASE, 1.0)
    _damage(path, 4, struct.pack("<I", 7))  # odd: a write began and never ended
    with pytest.raises(LeaseBlockError, match="died halfway"):
        block.read()


# A writer in another process --------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import sys, time
    from sergeant._lease_block import LeaseBlock

    block = LeaseBlock(sys.argv[1])
    block.start("jobs", 3.0, 0.0)
    deadline = time.monotonic() + float(sys.argv[2])
    generation = 0
    while time.monotonic() < deadline:
        generation += 1
        count = 1 + (generation * 7919) % 3000
        block.publish([f"g{generation}-{i}-" + "x" * 40 for i in range(count)])
        block.beat(float(generation))
    print(generation)
    """
)


def _torn(state: LeaseState) -> str | None:
    """Why ``state`` cannot be one the writer published (None: it can)."""
    if not state.receipts:
        return None if state.queue == "jobs" else f"queue {state.queue!r}"
    generation = state.receipts[0].split("-", 1)[0][1:]
    if not generation.isdigit():
        return f"first receipt {state.receipts[0][:30]!r}"
    expected = [
        f"g{generation}-{i}-" + "x" * 40 for i in range(1 + (int(generation) * 7919) % 3000)
    ]
    if state.receipts != expected:
        return f"generation {generation}: {len(state.receipts)} receipts, not {len(expected)}"
    return None


def test_a_reader_never_sees_a_half_written_block_of_a_writer_in_another_process(
    path: str,
) -> None:
    """A writer process rewrites lists of 1 to 3000 receipts as fast as it can; every
    block the reader accepts is one the writer published whole."""
    LeaseBlock(path).close()  # the supervisor creates the file before the worker starts
    reader = LeaseBlock(path)
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, path, "4"], stdout=subprocess.PIPE, text=True
    )
    accepted, busy, torn, generations = 0, 0, [], set()
    deadline = time.monotonic() + 60
    try:
        while writer.poll() is None or accepted < 200:
            assert time.monotonic() < deadline, (accepted, busy)
            try:
                state = reader.read()
            except LeaseBlockError as exc:  # the writer was descheduled mid-write
                if "kept writing" not in str(exc):
                    raise
                busy += 1
                continue
            if state is None:
                continue
            accepted += 1
            why = _torn(state)
            if why:
                torn.append(why)
            elif state.receipts:
                generations.add(state.receipts[0].split("-", 1)[0])
        written = int(writer.communicate(timeout=30)[0])
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
        reader.close()
    assert torn == []
    assert written > 100, (written, busy)
    assert len(generations) > 20, (len(generations), busy)


# The worker's side: LeaseKeeper --------------------------------------------------------


class RecordingBroker:
    """What :class:`LeaseKeeper` calls on a broker: ``extend``, recorded."""

    def __init__(self) -> None:
        self.extended: list[list[str]] = []

    def extend(self, queue: str, receipts: Sequence[str], lease_seconds: float) -> int:
        self.extended.append(sorted(receipts))
        return len(receipts)


def test_the_lease_keeper_publishes_what_it_holds_before_its_thread_runs(
    block: LeaseBlock, path: str
) -> None:
    keeper = LeaseKeeper(
        RecordingBroker(),  # type: ignore[arg-type]
        "jobs",
        60.0,  # its thread's first round is 20 s away
        logging.getLogger("test"),
        block=block,
    )
    reader = LeaseBlock(path)
    try:
        keeper.start()
        started = reader.read()
        assert started is not None
        assert (started.queue, started.lease_seconds, started.receipts) == ("jobs", 60.0, [])
        assert abs(started.heartbeat - time.monotonic()) < 30
        keeper.hold(["r1", "r2"])
        state = reader.read()
        assert state is not None
        assert sorted(state.receipts) == ["r1", "r2"]
    finally:
        keeper.close()
        reader.close()


def test_the_lease_keeper_beats_and_publishes_drops_on_each_round(path: str) -> None:
    block = LeaseBlock(path)
    broker = RecordingBroker()
    keeper = LeaseKeeper(broker, "jobs", 0.3, logging.getLogger("test"), block=block)  # type: ignore[arg-type]
    reader = LeaseBlock(path)
    try:
        keeper.start()
        keeper.hold(["r1", "r2"])
        first = reader.read()
        assert first is not None
        keeper.drop(["r1"])

        def renewed_after_drop() -> LeaseState | None:
            state = reader.read()
            if state and state.receipts == ["r2"] and state.heartbeat > first.heartbeat:
                return state
            return None

        wait_until(renewed_after_drop, timeout=30, message="a round publishing the drop")
        wait_until(lambda: ["r2"] in broker.extended, timeout=30, message="r2 renewed alone")
    finally:
        keeper.close()
        reader.close()


# The supervisor's side: stale detection ------------------------------------------------


class RecordingConnector(build("recording")):  # type: ignore[misc]
    """Records each ``queue_extend``; ``fail`` makes it raise instead."""

    def __init__(self, **params: Any) -> None:
        self.params = params
        self.extends: list[tuple[str, list[str], float]] = []
        self.fail: Exception | None = None
        self.closed = False

    def queue_extend(self, queue_name: str, receipts: Sequence[str], lease_seconds: float) -> int:
        if self.fail is not None:
            raise self.fail
        self.extends.append((queue_name, list(receipts), lease_seconds))
        return len(receipts)

    def close(self) -> None:
        self.closed = True


class Watched:
    """One worker process as the guard sees it: its block (the worker's side) and liveness."""

    def __init__(self, path: str) -> None:
        self.worker = LeaseBlock(path)
        self.supervisor_side = LeaseBlock(path)
        self.alive = True

    def close(self) -> None:
        self.worker.close()
        self.supervisor_side.close()


@pytest.fixture
def connector() -> RecordingConnector:
    return RecordingConnector()


@pytest.fixture
def guard(connector: RecordingConnector) -> Iterator[LeaseGuard]:
    made = LeaseGuard(lambda: connector, logging.getLogger("test.lease-guard"))
    yield made
    made.close()


@pytest.fixture
def watched(guard: LeaseGuard, path: str) -> Iterator[Watched]:
    process = Watched(path)
    guard.watch(1, process.supervisor_side, lambda: process.alive, 4242)
    yield process
    guard.forget(1)
    process.close()


def test_a_fresh_heartbeat_is_left_alone(
    guard: LeaseGuard, watched: Watched, connector: RecordingConnector
) -> None:
    watched.worker.start("jobs", LEASE, 100.0)
    watched.worker.publish(["a", "b"])
    assert guard.check(100.0 + LEASE / 2) == 0  # exactly half a lease: not yet stale
    assert connector.extends == []


def test_a_heartbeat_older_than_half_a_lease_gets_the_receipts_extended(
    guard: LeaseGuard, watched: Watched, connector: RecordingConnector
) -> None:
    watched.worker.start("jobs", LEASE, 100.0)
    watched.worker.publish(["a", "b"])
    assert guard.check(100.0 + LEASE / 2 + 0.01) == 2
    assert connector.extends == [("jobs", ["a", "b"], LEASE)]


def test_a_stalled_process_is_extended_every_third_of_a_lease_and_no_more_often(
    guard: LeaseGuard, watched: Watched, connector: RecordingConnector
) -> None:
    watched.worker.start("jobs", LEASE, 100.0)
    watched.worker.publish(["a"])
    stalled_at = 102.0  # two seconds without a beat: more than half the lease of 3 s
    renewed = [guard.check(stalled_at + step * LEASE / 12) for step in range(9)]
    # rounds a twelfth of a lease apart: one renewal every fourth round
    assert renewed == [1, 0, 0, 0, 1, 0, 0, 0, 1]


def test_once_the_heartbeat_resumes_the_guard_stops_extending(
    guard: LeaseGuard,
    watched: Watched,
    connector: RecordingConnector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    watched.worker.start("jobs", LEASE, 100.0)
    watched.worker.publish(["a"])
    with caplog.at_level(logging.WARNING, "test.lease-guard"):
        assert guard.check(102.0) == 1
        assert guard.check(103.5) == 1
        watched.worker.beat(103.6)  # the task released the GIL: the thread renewed
        assert guard.check(104.0) == 0
        assert guard.check(110.0) == 1  # stalled again
    warned = [r.getMessage() for r in caplog.records if "has not renewed" in r.getMessage()]
    assert len(warned) == 2  # once per stall, not once per renewal
    assert "worker process 4242" in warned[0]


def test_a_process_that_ended_is_not_extended(
    guard: LeaseGuard, watched: Watched, connector: RecordingConnector
) -> None:
    watched.worker.start("jobs", LEASE, 100.0)
    watched.worker.publish(["a"])
    watched.alive = False
    assert guard.check(200.0) == 0
    assert connector.extends == []


def test_a_forgotten_process_is_not_extended(
    guard: LeaseGuard, watched: Watched, connector: RecordingConnector
) -> None:
    watched.worker.start("jobs", LEASE, 100.0)
    watched.worker.publish(["a"])
    guard.forget(1)
    assert guard.check(200.0) == 0
    assert connector.extends == []


def test_a_stalled_process_holding_nothing_or_not_started_costs_no_call(
    guard: LeaseGuard, watched: Watched, connector: RecordingConnector
) -> None:
    assert guard.check(200.0) == 0  # not started
    watched.worker.start("jobs", LEASE, 100.0)
    assert guard.check(200.0) == 0  # started, nothing held
    assert connector.extends == []


def test_a_bad_block_is_logged_and_the_next_good_one_is_extended(
    guard: LeaseGuard,
    watched: Watched,
    connector: RecordingConnector,
    path: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    watched.worker.start("jobs", LEASE, 100.0)
    watched.worker.publish(["a"])
    _damage(path, 0, struct.pack("<I", 0xDEADBEEF))
    with caplog.at_level(logging.ERROR, "test.lease-guard"):
        assert guard.check(200.0) == 0
        assert guard.check(201.0) == 0  # the same complaint is not repeated at once
    complaints = [r for r in caplog.records if "cannot read the lease block" in r.getMessage()]
    assert len(complaints) == 1
    watched.worker.start("jobs", LEASE, 100.0)  # rewrites the header
    watched.worker.publish(["a"])
    assert guard.check(202.0) == 1


def test_a_storage_error_while_extending_is_logged_not_raised(
    guard: LeaseGuard,
    watched: Watched,
    connector: RecordingConnector,
    caplog: pytest.LogCaptureFixture,
) -> None:
    watched.worker.start("jobs", LEASE, 100.0)
    watched.worker.publish(["a"])
    connector.fail = OSError("storage down")
    with caplog.at_level(logging.ERROR, "test.lease-guard"):
        assert guard.check(200.0) == 0
    assert any("storage down" in r.getMessage() for r in caplog.records)
    connector.fail = None
    assert guard.check(200.0 + LEASE) == 1


def test_a_connector_that_cannot_be_built_is_retried_later(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    built: list[RecordingConnector] = []
    failures = [RuntimeError("no server yet")]

    def connect() -> Connector:
        if failures:
            raise failures.pop()
        built.append(RecordingConnector())
        return built[-1]

    guard = LeaseGuard(connect, logging.getLogger("test.lease-guard"))
    process = Watched(path)
    try:
        guard.watch(1, process.supervisor_side, lambda: True, 4242)
        process.worker.start("jobs", LEASE, 100.0)
        process.worker.publish(["a"])
        with caplog.at_level(logging.ERROR, "test.lease-guard"):
            assert guard.check(200.0) == 0
        assert any("no server yet" in r.getMessage() for r in caplog.records)
        assert guard.check(205.0) == 0  # within the retry delay: not built again
        assert built == []
        assert guard.check(211.0) == 1
        assert built[0].extends == [("jobs", ["a"], LEASE)]
    finally:
        guard.close()
        process.close()
    assert built[0].closed


def test_the_guard_thread_extends_a_stalled_process_and_closes_its_connector(
    connector: RecordingConnector, path: str
) -> None:
    guard = LeaseGuard(lambda: connector, logging.getLogger("test.lease-guard"))
    process = Watched(path)
    try:
        process.worker.start("jobs", 0.6, time.monotonic() - 10)  # stalled for 10 s
        process.worker.publish(["a"])
        guard.watch(1, process.supervisor_side, lambda: True, 4242)
        guard.start()
        wait_until(lambda: len(connector.extends) >= 2, timeout=30, message="two renewals")
        assert connector.extends[:2] == [("jobs", ["a"], 0.6)] * 2
    finally:
        guard.forget(1)
        guard.close()
        process.close()
    assert connector.closed
