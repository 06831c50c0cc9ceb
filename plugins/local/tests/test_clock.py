"""The lease clock of a sergeant-local file: wall-clock steps neither expire nor hand out leases.

Lease expiries are on the file's lease clock (:mod:`sergeant_local._clock`):
``time.monotonic()`` plus an anchor, stored once per boot in ``sergeant_clock``
by the first write, so every connector and process on the machine reads the
same clock. These tests step the wall clock (``time.time``, in this process
through ``monkeypatch``, in child processes by patching it before
sergeant_local is imported) by an hour and prove:

- a step forward expires no live lease (nobody else gets the item; the holder
  can still extend and ack it);
- a step back never hands out a live lease: a process that opens the file after
  the step writes leases on the same clock as one that opened it before (with a
  per-process anchor its leases would look an hour old to the others);
- after a step back, a lease nobody renews still ends on time, and the item is
  ready at once (not an hour later);
- the anchor: written by the first write of a boot, never by a reader, replaced
  when it belongs to another boot; and a schema-3 file (leases on the wall
  clock, no ``sergeant_clock``) is upgraded to 4 with its leases kept.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sergeant.testing import wait_until
from sergeant_local import LocalConnector
from sergeant_local._clock import boot_id
from sergeant_local.schema import SCHEMA_VERSION

HOUR = 3600.0
LONG = 30.0
SHORT = 0.3
_real_time = time.time


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "clock.sqlite3")


@pytest.fixture
def first(path: str) -> Iterator[LocalConnector]:
    """A connector opened before any step (its first reserve anchors the file)."""
    with LocalConnector(file_path=path) as connector:
        yield connector


def step(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move this process's wall clock (``time.time``) by ``seconds`` from the real one."""
    monkeypatch.setattr(time, "time", lambda: _real_time() + seconds)


def clock_rows(path: str) -> list[tuple[str, float]]:
    check = sqlite3.connect(path)
    try:
        return [(str(b), float(a)) for b, a in check.execute("SELECT * FROM sergeant_clock")]
    finally:
        check.close()


def in_flight(connector: LocalConnector, queue: str) -> int:
    return sum(row.in_flight for row in connector.queue_stats(queue))


# The anchor --------------------------------------------------------------------------


def test_the_first_write_of_a_boot_stores_the_anchor(first: LocalConnector, path: str) -> None:
    assert boot_id()  # Linux tells the boot's id: leases are on the lease clock
    first.queue_push("q", b"a")
    before = _real_time() - time.monotonic()
    first.queue_reserve("q", 1, LONG)
    after = _real_time() - time.monotonic()
    ((boot, anchor),) = clock_rows(path)
    assert boot == boot_id()
    assert before - 0.01 <= anchor <= after + 0.01


def test_readers_never_write_the_anchor(first: LocalConnector, path: str) -> None:
    first.queue_push("q", b"a")  # a write: it stores the anchor
    edit = sqlite3.connect(path)
    edit.execute("DELETE FROM sergeant_clock")  # as in a file of an earlier version
    edit.commit()
    edit.close()
    with LocalConnector(file_path=path) as reader:
        assert reader.queue_length("q") == 1
        assert reader.queue_stats("q")[0].ready == 1
        assert reader.queue_pop("q") == b"a"  # the usual pop reads the clock without writing
    assert clock_rows(path) == []


def test_connectors_opened_later_adopt_the_stored_anchor(
    first: LocalConnector, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first.queue_reserve("q", 1, LONG)
    stored = clock_rows(path)
    assert len(stored) == 1
    step(monkeypatch, -HOUR)  # a new anchor taken now would be an hour off
    with LocalConnector(file_path=path) as later:
        later.queue_push("q", b"a")
        later.queue_reserve("q", 1, LONG)
    assert clock_rows(path) == stored


def test_the_anchor_of_an_earlier_boot_is_replaced(first: LocalConnector, path: str) -> None:
    first.queue_reserve("q", 1, LONG)  # creates the table and this boot's anchor
    edit = sqlite3.connect(path)
    edit.execute("UPDATE sergeant_clock SET boot_id = 'an-earlier-boot', anchor = 12345.0")
    edit.commit()
    edit.close()
    with LocalConnector(file_path=path) as after_reboot:
        after_reboot.queue_push("q", b"a")
        before = _real_time() - time.monotonic()
        after_reboot.queue_reserve("q", 1, LONG)
    ((boot, anchor),) = clock_rows(path)
    assert boot == boot_id()
    assert abs(anchor - before) < 1.0


# Steps of the wall clock -----------------------------------------------------------


def test_a_forward_step_expires_no_live_lease(
    first: LocalConnector, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first.queue_push("q", b"held")
    (held,) = first.queue_reserve("q", 1, LONG)
    step(monkeypatch, HOUR)
    with LocalConnector(file_path=path) as after_step:
        assert after_step.queue_reserve("q", 10, LONG) == []
        assert after_step.queue_length("q") == 0
        assert in_flight(after_step, "q") == 1
    assert first.queue_reserve("q", 10, LONG) == []
    assert first.queue_extend("q", [held.receipt], LONG) == 1
    assert first.queue_ack("q", [held.receipt]) == 1


def test_a_backward_step_never_hands_out_a_live_lease(
    first: LocalConnector, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first.queue_reserve("q", 1, LONG)  # opened and anchored before the step
    step(monkeypatch, -HOUR)
    with LocalConnector(file_path=path) as after_step:  # a process started after it
        after_step.queue_push("q", b"item")
        (held,) = after_step.queue_reserve("q", 1, LONG)
        assert first.queue_reserve("q", 10, LONG) == []
        assert first.queue_length("q") == 0
        assert in_flight(first, "q") == 1
        assert after_step.queue_ack("q", [held.receipt]) == 1


def test_after_a_backward_step_an_abandoned_lease_still_ends_on_time(
    first: LocalConnector, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder died: its item comes back one lease later, ready at once, although
    the wall clock is now an hour before the lease's end."""
    first.queue_push("q", b"abandoned")
    first.queue_reserve("q", 1, SHORT)
    step(monkeypatch, -HOUR)
    with LocalConnector(file_path=path) as after_step:
        back = wait_until(
            lambda: after_step.queue_reserve("q", 1, LONG),
            timeout=30,
            message="the abandoned item back after its lease",
        )
    assert [(d.item, d.deliveries) for d in back] == [(b"abandoned", 2)]


_STEPPED_CHILD = textwrap.dedent(
    """
    import sys, time
    real = time.time
    time.time = lambda: real() + float(sys.argv[2])
    from sergeant_local import LocalConnector

    with LocalConnector(file_path=sys.argv[1]) as connector:
        got = connector.queue_reserve("q", 10, 30)
        print(len(got), connector.queue_stats("q")[0].in_flight)
    """
)


@pytest.mark.parametrize("offset", [HOUR, -HOUR], ids=["forward", "backward"])
def test_a_process_whose_wall_clock_stepped_gets_no_live_lease(
    first: LocalConnector, path: str, offset: float
) -> None:
    first.queue_push_bulk("q", [b"a", b"b"])
    held = first.queue_reserve("q", 2, LONG)
    done = subprocess.run(
        [sys.executable, "-c", _STEPPED_CHILD, path, str(offset)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["0", "2"]
    assert first.queue_ack("q", [d.receipt for d in held]) == 2


# Schema 3 -> 4 -----------------------------------------------------------------------


def test_a_version_3_file_is_upgraded_and_keeps_its_leases(path: str) -> None:
    with LocalConnector(file_path=path) as writer:
        writer.queue_push_bulk("q", [b"held", b"lapsed", b"ready"])
        (held,) = writer.queue_reserve("q", 1, LONG)
        writer.queue_reserve("q", 1, LONG)
    # What version 3 looked like: no sergeant_clock, expiries on the wall clock.
    old = sqlite3.connect(path)
    now = _real_time()
    old.executescript("DROP TABLE sergeant_clock; PRAGMA user_version = 3;")
    old.execute(
        "UPDATE sergeant_leases SET expires_at = CASE WHEN id = ? THEN ? ELSE ? END",
        (int(held.receipt.split(".")[0]), now + LONG, now - 1),
    )
    old.execute("UPDATE sergeant_lease_queues SET earliest = ?", (now - 1,))
    old.commit()
    old.close()
    with LocalConnector(file_path=path) as upgraded:
        got = upgraded.queue_reserve("q", 10, LONG)
        assert sorted((d.item, d.deliveries) for d in got) == [(b"lapsed", 2), (b"ready", 1)]
        assert upgraded.queue_ack("q", [held.receipt]) == 1  # its lease was still live
    check = sqlite3.connect(path)
    try:
        assert check.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        check.close()
    assert [boot for boot, _ in clock_rows(path)] == [boot_id()]
