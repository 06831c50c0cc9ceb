"""The backend-free half of ``sergeant migrate`` (no backend installed).

Proves :mod:`sergeant.legacy`'s report arithmetic (per-node entries merged per
queue, totals, the JSON shape), how it recognises Sergeant 0.27.0 payloads
without unpickling them, the advice it gives on encoders; the contract's
default ``migrate_legacy`` refusal; the start-up check of
:mod:`sergeant._legacy_check` (counts, failures swallowed, one warning per
queue); and the CLI's argument errors and output with connectors that lack
the ``migrate_legacy`` capability.
"""

from __future__ import annotations

import bz2
import gzip
import json
import logging
import lzma
import os
import pickle
import shutil
import subprocess
import sys
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import msgpack
import pytest
from conftest import MakeDist
from minimal_connector import build
from sergeant._legacy_check import legacy_counts, legacy_warning, warn_once
from sergeant.connector import BASIC
from sergeant.errors import StorageError
from sergeant.legacy import (
    MIGRATE_LEGACY,
    LegacyQueue,
    LegacyReport,
    encoder_advice,
    encodings_of,
    held_locks_notes,
    is_sergeant_task,
    merge_queues,
    move_in_batches,
    sniff_payload,
)
from sergeant.objects import Task

COMPRESS: dict[str | None, Callable[[bytes], bytes]] = {
    None: lambda data: data,
    "zlib": zlib.compress,
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "lzma": lzma.compress,
}
#: What Sergeant 0.27.0 stored for a task: the pickled ``sergeant.objects.Task``,
#: or msgpack's map ``{"__task__": {...}}`` (its Task's ``__dict__``).
TASK = Task(kwargs={"to": "a@b.c"}, trace_id="t-1", date=1_700_000_000.5, run_count=0)
PICKLED = pickle.dumps(TASK, protocol=pickle.HIGHEST_PROTOCOL)
MSGPACKED = msgpack.packb({"__task__": vars(TASK)}, use_bin_type=True)


# LegacyQueue and LegacyReport ------------------------------------------------


def test_a_queue_totals_ready_and_delayed_and_adds_up() -> None:
    first = LegacyQueue("emails", ready=3, high=1, delayed=2)
    second = LegacyQueue("emails", ready=4, high=0, delayed=1)
    assert first.total == 5
    assert first + second == LegacyQueue("emails", ready=7, high=1, delayed=3)


def test_merge_queues_sums_per_name_in_first_seen_order() -> None:
    per_node = [
        LegacyQueue("b", ready=1),
        LegacyQueue("a", ready=2, delayed=1),
        LegacyQueue("b", ready=3, high=2, delayed=4),
    ]
    assert merge_queues(per_node) == (
        LegacyQueue("b", ready=4, high=2, delayed=4),
        LegacyQueue("a", ready=2, delayed=1),
    )
    assert merge_queues([]) == ()


def test_report_items_and_queue_lookup() -> None:
    report = LegacyReport(queues=(LegacyQueue("a", 2, 1, 3), LegacyQueue("b", 0, 0, 4)))
    assert report.items == 9
    assert report.queue("a") == LegacyQueue("a", 2, 1, 3)
    assert report.queue("missing") == LegacyQueue("missing")
    assert report.queue("missing").total == 0
    unmerged = LegacyReport(queues=(LegacyQueue("a", 1), LegacyQueue("a", 2, 0, 1)))
    assert unmerged.queue("a") == LegacyQueue("a", 3, 0, 1)


def test_report_as_dict_is_the_json_shape() -> None:
    report = LegacyReport(
        queues=(LegacyQueue("emails", ready=3, high=1, delayed=2),),
        keys=4,
        key_conflicts=("cfg:x",),
        locks=1,
        samples=(PICKLED, zlib.compress(MSGPACKED), PICKLED, b"\xc1 not a payload"),
        notes=("a note",),
    )
    shaped = report.as_dict()
    assert shaped == {
        "queues": {"emails": {"ready": 3, "high": 1, "delayed": 2, "total": 5}},
        "items": 5,
        "keys": 4,
        "key_conflicts": ["cfg:x"],
        "locks": 1,
        "encodings": [
            {"serializer": "pickle", "compressor": None},
            {"serializer": "msgpack", "compressor": "zlib"},
        ],
        "notes": ["a note"],
    }
    assert json.loads(json.dumps(shaped)) == shaped
    assert LegacyReport().as_dict()["queues"] == {}


def test_held_locks_get_one_note_and_none_without_locks() -> None:
    assert held_locks_notes(0) == ()
    (note,) = held_locks_notes(3)
    assert note.startswith("3 Sergeant 0.27.0 locks are held")
    assert "not moved" in note


# Recognising Sergeant's payloads ----------------------------------------------


@pytest.mark.parametrize("compressor", list(COMPRESS))
def test_sniff_tells_serializer_and_compressor(compressor: str | None) -> None:
    squeeze = COMPRESS[compressor]
    assert sniff_payload(squeeze(PICKLED)) == ("pickle", compressor)
    assert sniff_payload(squeeze(MSGPACKED)) == ("msgpack", compressor)
    assert is_sergeant_task(squeeze(PICKLED))
    assert is_sergeant_task(squeeze(MSGPACKED))


class Boom:
    """Unpickling this would raise: proves nothing is ever unpickled."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("exit 1",))


def test_nothing_is_unpickled_and_other_data_is_not_a_task() -> None:
    hostile = pickle.dumps(Boom(), protocol=pickle.HIGHEST_PROTOCOL)
    assert sniff_payload(hostile) == ("pickle", None)
    assert not is_sergeant_task(hostile)
    assert not is_sergeant_task(pickle.dumps({"kwargs": {}}, protocol=4))
    ours = msgpack.packb([{"n": 1}, None, 1.0, 0])  # our own task form is not Sergeant's
    assert not is_sergeant_task(ours)
    assert not is_sergeant_task(msgpack.packb({"kwargs": {}}))
    for garbage in (b"", b"\xc1", b"BZh-not-bzip2", b"\x1f\x8b broken gzip"):
        assert not is_sergeant_task(garbage)
    assert sniff_payload(b"\xc1") is None


def test_encodings_are_listed_once_each_in_first_seen_order() -> None:
    samples = [MSGPACKED, gzip.compress(PICKLED), MSGPACKED, b"\xc1", gzip.compress(PICKLED)]
    assert encodings_of(samples) == [("msgpack", None), ("pickle", "gzip")]


def test_encoder_advice_names_the_encoder_the_workers_need() -> None:
    assert encoder_advice([MSGPACKED]) == []  # our default reads it as is
    (zipped,) = encoder_advice([zlib.compress(MSGPACKED)])
    assert "sergeant.config.Encoder(serializer='msgpack', compressor='zlib')" in zipped
    (pickled,) = encoder_advice([bz2.compress(PICKLED)])
    assert "sergeant.config.Encoder(serializer='pickle', compressor='bzip2')" in pickled
    assert "trusted" in pickled
    assert len(encoder_advice([PICKLED, lzma.compress(MSGPACKED)])) == 2


# The contract's default and the start-up check ---------------------------------


class Capable(build("capable")):  # type: ignore[misc]
    """A connector that declares the capability and answers with a fixed report."""

    capabilities: ClassVar[frozenset[str]] = BASIC | {MIGRATE_LEGACY}
    report = LegacyReport()
    calls: ClassVar[list[tuple[Any, ...]]] = []

    def do_migrate_legacy(
        self,
        queues: list[str] | None,
        keys: str | bool,
        dry_run: bool,
        progress: Callable[[int], None] | None,
    ) -> LegacyReport:
        self.calls.append((queues, keys, dry_run))
        return self.report


class Failing(Capable):
    def do_migrate_legacy(self, *args: Any, **kwargs: Any) -> LegacyReport:
        raise StorageError("the node is down")


def test_a_connector_without_the_capability_refuses_by_name() -> None:
    connector = build("plain")()
    assert MIGRATE_LEGACY not in connector.capabilities
    with pytest.raises(StorageError, match=r"'plain' cannot migrate Sergeant 0\.27\.0 data"):
        connector.migrate_legacy()
    assert legacy_counts(connector, ["emails"]) == {}


def test_legacy_counts_asks_a_dry_run_without_keys_and_keeps_nonzero_queues() -> None:
    connector = Capable()
    connector.report = LegacyReport(
        queues=(LegacyQueue("emails", 2, 0, 1), LegacyQueue("emails", 4), LegacyQueue("sms"))
    )
    Capable.calls.clear()
    assert legacy_counts(connector, ["emails", "sms", "push"]) == {"emails": 7}
    assert Capable.calls == [(["emails", "sms", "push"], False, True)]


def test_a_failing_check_never_stops_the_worker() -> None:
    assert legacy_counts(Failing(), ["emails"]) == {}


def test_warn_once_warns_once_per_queue_on_the_visible_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    connector = Capable()
    queue = f"q-{uuid.uuid4().hex[:8]}"
    connector.report = LegacyReport(queues=(LegacyQueue(queue, 3),))
    quiet = logging.getLogger(f"worker-{queue}")
    quiet.propagate = False
    quiet.addHandler(logging.NullHandler())
    with caplog.at_level(logging.WARNING):
        warn_once(connector, queue, quiet)
        warn_once(connector, queue, quiet)
    shown = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.name for r in shown] == ["sergeant.legacy"]  # the worker's logger shows nothing
    assert shown[0].getMessage() == legacy_warning(queue, 3)
    assert f"`sergeant migrate {queue}`" in shown[0].getMessage()
    assert "docs/upgrading-from-sergeant.md" in shown[0].getMessage()


def test_warn_once_uses_the_workers_logger_when_it_shows_warnings() -> None:
    connector = Capable()
    queue = f"q-{uuid.uuid4().hex[:8]}"
    connector.report = LegacyReport(queues=(LegacyQueue(queue, 1, 0, 1),))
    records: list[logging.LogRecord] = []
    visible = logging.getLogger(f"worker-{queue}")
    visible.propagate = False
    visible.setLevel(logging.WARNING)
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    visible.addHandler(handler)
    warn_once(connector, queue, visible)
    assert [r.getMessage() for r in records] == [legacy_warning(queue, 2)]


# The CLI ------------------------------------------------------------------------


def run_cli(*args: str, site: Path | None = None) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ)
    environ.pop("SERGEANT_CONNECTOR", None)
    if site is not None:
        environ["PYTHONPATH"] = os.pathsep.join([str(site), str(Path(__file__).parent)])
    script = shutil.which("sergeant", path=str(Path(sys.executable).parent))
    assert script, "the sergeant console script is installed with the core distribution"
    return subprocess.run(
        [script, *args], capture_output=True, text=True, env=environ, check=False, timeout=120
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--keys", "a", "--no-keys"), "argument --no-keys: not allowed with argument --keys"),
        (("--keys",), "argument --keys: expected one argument"),
        (("--keys", ""), "sergeant: error: invalid --keys: ''; expected a glob pattern"),
        (("--bogus",), "unrecognized arguments: --bogus"),
    ],
)
def test_argument_errors_exit_2_with_one_clear_line(args: tuple[str, ...], message: str) -> None:
    result = run_cli("migrate", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("as_json", [True, False])
def test_a_type_sergeant_never_had_has_nothing_to_migrate(
    make_dist: MakeDist, site: Path, as_json: bool
) -> None:
    make_dist("acme-queue", "1.0", type_name="acme")
    result = run_cli("migrate", "--connector", "acme", *(["--json"] if as_json else []), site=site)
    assert result.returncode == 0, result.stderr
    nothing = "nothing to migrate: Sergeant 0.27.0 had no 'acme' connector type"
    if not as_json:
        assert result.stdout.strip() == nothing
        return
    assert json.loads(result.stdout) == {
        "dry_run": False,
        "queues": {},
        "items": 0,
        "keys": 0,
        "key_conflicts": [],
        "locks": 0,
        "encodings": [],
        "notes": [nothing],
    }


def test_a_sergeant_type_without_the_capability_is_an_error(
    make_dist: MakeDist, site: Path
) -> None:
    make_dist("other-mongo", "1.0", type_name="mongo")
    result = run_cli("migrate", "--connector", "mongo", "--dry-run", "--json", site=site)
    assert result.returncode == 1
    assert "sergeant migrate does not support connector type 'mongo'" in result.stderr
    assert result.stdout == ""


def test_help_describes_every_option() -> None:
    result = run_cli("migrate", "--help")
    assert result.returncode == 0
    for option in ("QUEUE", "--keys PATTERN", "--no-keys", "--dry-run", "--json", "--connector"):
        assert option in result.stdout


def test_move_in_batches_stops_at_a_short_batch_and_reports_progress() -> None:
    batches = iter([LegacyQueue("q", 3, 1, 0), LegacyQueue("q", 1, 0, 1), LegacyQueue("q", 1)])
    seen: list[int] = []
    total = move_in_batches("q", lambda: next(batches), 3, 100, 10, seen.append)
    assert total == LegacyQueue("q", 4, 1, 1)  # the third batch is never asked for
    assert seen == [13, 15]


def test_move_in_batches_stops_at_the_bound_while_the_old_queue_keeps_filling() -> None:
    calls: list[int] = []

    def full_batch() -> LegacyQueue:
        calls.append(1)
        return LegacyQueue("q", 3)

    total = move_in_batches("q", full_batch, 3, 7, 0, None)
    assert total.total == 9
    assert len(calls) == 3
