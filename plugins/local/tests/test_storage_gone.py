"""The database file deleted or replaced under an open connector.

SQLite itself keeps using an unlinked file: a connector whose file was removed
would go on pushing and popping where no process opening ``file_path`` now can
see. These tests prove the connector notices instead: a write after the removal
fails at once, any call within :data:`CHECK_FILE_EVERY` of it, every later call
too, a thread opening its first connection is refused rather than handed the new
file, a worker's loop ends (its supervisor starts a fresh process) instead of
retrying forever, the supervisor's own connector (its lease guard) reconnects
to the file now at the path, and an untouched file (checkpointed, vacuumed,
touched) never raises a false alarm.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sergeant
from sergeant._lease_block import LeaseBlock
from sergeant._lease_guard import LeaseGuard
from sergeant.config import Connector as ConnectorConfig
from sergeant.config import WorkerConfig
from sergeant.connector import Connector
from sergeant.errors import SergeantError, StorageError, StorageGoneError
from sergeant.task import Task
from sergeant.testing import wait_until
from sergeant_local import LocalConnector
from sergeant_local._database import CHECK_FILE_EVERY

#: Generous: each bound is a few CHECK_FILE_EVERY on an idle machine.
BOUND = 30.0


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "gone.sqlite3"


@pytest.fixture
def connector(path: Path) -> Iterator[LocalConnector]:
    with LocalConnector(file_path=str(path)) as connector:
        connector.queue_push_bulk("q", [b"a", b"b", b"c"])
        yield connector


def delete(path: Path) -> None:
    """What ``rm q.sqlite3 q.sqlite3-wal q.sqlite3-shm`` does."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def replace(path: Path) -> None:
    """Move another database over ``path`` (as a restore from a backup would)."""
    other = path.with_name("other.sqlite3")
    with LocalConnector(file_path=str(other)) as fresh:
        fresh.queue_push("other", b"from the other file")
    shutil.move(other, path)


def gone_error(call: Callable[[], Any]) -> StorageGoneError | None:
    """The StorageGoneError ``call`` raised, or None if it returned."""
    try:
        call()
    except StorageGoneError as exc:
        return exc
    return None


@pytest.mark.parametrize("remove", [delete, replace], ids=["deleted", "replaced"])
def test_a_write_right_after_the_removal_fails_naming_the_file(
    remove: Callable[[Path], None], connector: LocalConnector, path: Path
) -> None:
    """No waiting for the throttled check: a write that went to the old file must not
    report success for data no process will see again."""
    remove(path)
    with pytest.raises(StorageGoneError) as caught:
        connector.queue_push("q", b"into the void?")
    assert str(path) in str(caught.value)
    assert "deleted" in str(caught.value) or "replaced" in str(caught.value)
    assert isinstance(caught.value, StorageError)
    assert isinstance(caught.value, SergeantError)


@pytest.mark.parametrize("remove", [delete, replace], ids=["deleted", "replaced"])
def test_reads_fail_within_the_check_period_and_every_call_after(
    remove: Callable[[Path], None], connector: LocalConnector, path: Path
) -> None:
    remove(path)
    removed_at = time.monotonic()
    error = wait_until(
        lambda: gone_error(lambda: connector.queue_length("q")),
        timeout=BOUND,
        interval=0.01,
        message="a read to notice the file is gone",
    )
    noticed_after = time.monotonic() - removed_at
    assert str(path) in str(error)
    # On an idle machine this is CHECK_FILE_EVERY; the bound only guards against "never".
    assert noticed_after < BOUND
    calls: list[Callable[[Connector], Any]] = [
        lambda c: c.queue_push("q", b"x"),
        lambda c: c.queue_push_bulk("q", [b"x", b"y"]),
        lambda c: c.queue_pop("q"),
        lambda c: c.queue_pop_bulk("q", 10),
        lambda c: c.queue_reserve("q", 1, 30),
        lambda c: c.queue_ack("q", ["1.1.0"]),
        lambda c: c.queue_length("q"),
        lambda c: c.queue_stats("q"),
        lambda c: c.key_set("k", b"v"),
        lambda c: c.key_get("k"),
        lambda c: c.lock("l").acquire(timeout=0),
    ]
    for call in calls:
        with pytest.raises(StorageGoneError, match="file_path"):
            call(connector)


def test_a_new_file_at_the_path_does_not_revive_the_old_connector(
    connector: LocalConnector, path: Path
) -> None:
    """The operator's fix is a new connector (a new worker process), which sees the new
    file: the old one must not drift onto it with its state from the old file."""
    delete(path)
    with LocalConnector(file_path=str(path)) as fresh:
        fresh.queue_push("q", b"new")
        assert fresh.queue_pop_bulk("q", 10) == [b"new"]  # the old three went with the file
        with pytest.raises(StorageGoneError, match="replaced"):
            connector.queue_push("q", b"old connector")
        assert fresh.queue_length("q") == 0


def test_a_thread_opening_its_first_connection_after_a_replacement_is_refused(
    connector: LocalConnector, path: Path
) -> None:
    """Each thread opens its own connection: one opened now would open the new file,
    while the connector's other threads still hold the old one."""
    replace(path)
    raised: list[BaseException] = []

    def first_call_of_a_thread() -> None:
        try:
            connector.queue_length("other")
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=first_call_of_a_thread)
    thread.start()
    thread.join(BOUND)
    assert [type(exc) for exc in raised] == [StorageGoneError]


def test_an_untouched_file_never_raises(connector: LocalConnector, path: Path) -> None:
    """Checkpoints, VACUUM, a touch and other connectors' writes keep the same file:
    calls spread over many check periods all succeed."""
    other = sqlite3.connect(path)
    try:
        deadline = time.monotonic() + 8 * CHECK_FILE_EVERY
        rounds = 0
        while time.monotonic() < deadline or rounds < 10:
            connector.queue_push("q", f"item-{rounds}".encode())
            assert connector.queue_pop("q") is not None
            other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            os.utime(path)
            rounds += 1
        other.execute("VACUUM")
        wait_until(
            lambda: time.monotonic() > deadline + CHECK_FILE_EVERY,
            timeout=BOUND,
            message="one more check period",
        )
        assert connector.queue_length("q") == 3
    finally:
        other.close()


class IdleWorker(sergeant.Worker):
    """A worker on a local file; its queue stays empty so the loop only fetches."""

    file_path = ""

    def __init__(self) -> None:
        super().__init__()
        self.looping = threading.Event()

    def generate_config(self) -> WorkerConfig:
        return WorkerConfig(
            name="idle",
            connector=ConnectorConfig(type="local", params={"file_path": self.file_path}),
        )

    def initialize(self) -> None:
        self.looping.set()  # the fetch loop comes next, with no storage call between

    def work(self, task: Task) -> None:
        raise AssertionError("no task was pushed")


def test_a_worker_loop_ends_with_the_error_instead_of_retrying(path: Path) -> None:
    """A missing server is retried; a missing file is not coming back: the loop ends
    with StorageGoneError so the supervisor starts a process on the file at the path."""
    worker = type("OnThisFile", (IdleWorker,), {"file_path": str(path)})()
    worker.init_broker()
    summaries: list[dict[str, Any]] = []
    loop = threading.Thread(target=lambda: summaries.append(worker.work_loop()), daemon=True)
    loop.start()
    try:
        assert worker.looping.wait(BOUND), "the worker loop did not start"
        delete(path)
        loop.join(BOUND)
        assert not loop.is_alive(), "the loop went on retrying a file that is gone"
        (summary,) = summaries
        assert isinstance(summary["executor_exception"], StorageGoneError)
        assert str(path) in str(summary["executor_exception"])
    finally:
        if loop.is_alive():
            worker.stop_signal_handler(15, None)
            loop.join(BOUND)
        worker.close()


def test_the_supervisors_lease_guard_moves_to_the_file_now_at_the_path(
    path: Path, tmp_path: Path
) -> None:
    """The supervisor's own connector (it renews the leases of a worker process stuck
    in a task holding the GIL) opened the old file; the worker processes started since
    use the new one. It must follow them, not fail every renewal from then on."""
    guard = LeaseGuard(lambda: LocalConnector(file_path=str(path)), logging.getLogger(__name__))
    block = LeaseBlock(str(tmp_path / "lease-block"))
    try:
        with LocalConnector(file_path=str(path)) as first:
            first.queue_push("warm-up", b"x")
        assert guard._connector(time.monotonic()) is not None  # on the old file
        replace(path)
        with LocalConnector(file_path=str(path)) as new:
            new.queue_push("q", b"held by a stalled worker")
            (delivery,) = new.queue_reserve("q", 1, 60)
            # The stalled worker's block: an old heartbeat, a short lease, its receipt.
            block.start("q", 1.0, heartbeat=time.monotonic() - 30)
            block.publish([delivery.receipt])
            guard.watch(1, block, lambda: True, 4242)
            renewed = wait_until(
                lambda: guard.check(time.monotonic()),
                timeout=BOUND,
                message="the guard to renew the stalled worker's lease on the new file",
            )
            assert renewed == 1
            assert new.queue_ack("q", [delivery.receipt]) == 1
    finally:
        guard.forget(1)
        block.close()
        guard.close()
