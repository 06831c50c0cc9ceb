"""``sergeant migrate`` against what the real Sergeant 0.27.0 wrote.

Sergeant 0.27.0 runs in its own venv (the ``original`` fixture) and pushes
tasks (pickle and msgpack, plain and compressed; NORMAL, HIGH and delayed),
keys and a held lock into the storage ours is then pointed at with the same
connector config: the same SQLite file (local) or the same redis-servers.
These tests prove that ours warns about what waits in the old layout, that
``--dry-run`` counts it and moves nothing, that ``migrate`` moves everything
(delayed tasks stay delayed, HIGH goes first), that our workers then run each
task exactly once with the kwargs, trace id and date Sergeant gave it, that a
second run moves nothing, that an old producer pushing and an old worker
popping while migrate runs (or a migration stopped between batches) lose and
duplicate nothing, that bad arguments fail with one clear line, and that mongo
says it is not supported.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sergeant
from conftest import BACKENDS, connector_json
from sergeant.broker import dead_queue_name
from sergeant.config import Connector, Encoder, Starvation, WorkerConfig
from sergeant.encoder import TaskEncoder
from sergeant.errors import StorageError
from sergeant_test_support.original import OriginalSergeant

T = TypeVar("T")

#: Runs under Sergeant 0.27.0. argv[1] is a JSON spec; prints one JSON line and
#: leaves with os._exit, so a lock it acquired is not released by Lock.__del__.
OLD = r"""
import datetime, json, os, sys
import sergeant
from sergeant.broker import Broker
from sergeant.encoder.encoder import Encoder
from sergeant.objects import Task

spec = json.loads(sys.argv[1])
kind = spec["connector"]["type"]
connector = getattr(sergeant.connector, kind).Connector(**spec["connector"]["params"])
out = {"tasks": [], "keys": {}, "lengths": {}}


def broker(serializer="msgpack", compressor=None):
    encoder = Encoder(compressor_name=compressor, serializer_name=serializer)
    return Broker(connector=connector, encoder=encoder)


def revive(kwargs):
    # JSON has no tuple or datetime: "pair" becomes a tuple, "when" a naive datetime
    kwargs = dict(kwargs)
    if "pair" in kwargs:
        kwargs["pair"] = tuple(kwargs["pair"])
    if "when" in kwargs:
        kwargs["when"] = datetime.datetime.fromtimestamp(kwargs["when"])
    return kwargs


for push in spec.get("pushes", []):
    tasks = [Task(kwargs=revive(k), trace_id=push.get("trace_id")) for k in push["kwargs"]]
    how = {"priority": push.get("priority", "NORMAL"), "consumable_from": push.get("due")}
    chosen = broker(push["serializer"], push.get("compressor"))
    if push.get("bulk"):
        chosen.push_tasks(task_name=push["queue"], tasks=tasks, **how)
    else:
        for task in tasks:
            chosen.push_task(task_name=push["queue"], task=task, **how)
    out["tasks"] += [
        {"queue": push["queue"], "n": t.kwargs["n"], "date": t.date, "trace_id": t.trace_id}
        for t in tasks
    ]
for name, value in spec.get("set_keys", {}).items():
    broker().set_key(name, value)
held = [connector.lock(name) for name in spec.get("locks", [])]
for lock in held:
    assert lock.acquire(timeout=0, ttl=600)
stream = spec.get("stream")
if stream:
    chosen = broker()
    n = 0
    out["popped"] = []
    while n < stream["cap"] and not os.path.exists(stream["stop"]):
        priority = "HIGH" if n % 2 else "NORMAL"  # both ends of a Redis list
        chosen.push_task(task_name=stream["queue"], task=Task(kwargs={"n": n}), priority=priority)
        n += 1
        if n == 1:
            print("streaming", flush=True)
        if n % 5 == 0:  # an old worker consuming the old layout meanwhile
            popped = chosen.pop_tasks(task_name=stream["queue"], number_of_tasks=1)
            out["popped"] += [task.kwargs["n"] for task in popped]
    out["streamed"] = n
for name in spec.get("read_keys", []):
    value = connector.key_get(name)
    out["keys"][name] = None if value is None else bytes(value).hex()
for queue in spec.get("lengths", []):
    out["lengths"][queue] = connector.queue_length(queue_name=queue, include_delayed=True)
print(json.dumps(out), flush=True)
os._exit(0)
"""

#: Every (serializer, compressor) pair Sergeant 0.27.0 could write; one queue each.
ENCODINGS = [
    ("pickle", None),
    ("pickle", "bzip2"),
    ("pickle", "lzma"),
    ("msgpack", None),
    ("msgpack", "zlib"),
    ("msgpack", "gzip"),
]
QUEUES = [f"{serializer}-{compressor or 'plain'}" for serializer, compressor in ENCODINGS]
#: Per queue: n 0 and 1 NORMAL, 2 HIGH, 3 due a second after the push, 4 due in an hour.
RUNNABLE = (0, 1, 2, 3)
FAR = 4
PER_QUEUE = 5
KEYS = {"cfg:a": {"a": 1}, "cfg:b": [1, "two"], "cfg:clash": "old", "other": "left alone"}
OUR_CLASH = b"ours"
LOCK = "nightly-report"
WHEN = 1_700_000_000.25


def kwargs_of(queue: str, n: int) -> dict[str, Any]:
    """The kwargs of task ``n`` of ``queue`` as JSON (the old script revives pair and when)."""
    return {"n": n, "queue": queue, "pair": [n, "x"], "when": WHEN + n, "text": "spam " * 40}


def expected_kwargs(queue: str, n: int) -> dict[str, Any]:
    """What a worker of ours must see for task ``n`` of ``queue``."""
    kwargs = kwargs_of(queue, n)
    return {
        **kwargs,
        "pair": (n, "x"),
        "when": datetime.datetime.fromtimestamp(kwargs["when"]),
    }


def old_spec() -> dict[str, Any]:
    """Pushes, keys and a held lock for every queue of :data:`QUEUES`."""
    now = time.time()
    pushes: list[dict[str, Any]] = []
    for queue, (serializer, compressor) in zip(QUEUES, ENCODINGS, strict=True):
        same = {"queue": queue, "serializer": serializer, "compressor": compressor}
        same["trace_id"] = f"trace-{queue}"
        pushes += [
            {**same, "bulk": True, "kwargs": [kwargs_of(queue, 0), kwargs_of(queue, 1)]},
            {**same, "priority": "HIGH", "kwargs": [kwargs_of(queue, 2)]},
            {**same, "due": now + 1.0, "kwargs": [kwargs_of(queue, 3)]},
            {**same, "due": now + 3600.0, "kwargs": [kwargs_of(queue, FAR)]},
        ]
    return {"pushes": pushes, "set_keys": KEYS, "locks": [LOCK]}


class OldSergeant:
    """Runs :data:`OLD` under Sergeant 0.27.0 on one connector config."""

    def __init__(self, original: OriginalSergeant, config: Connector) -> None:
        self.original = original
        self.config = config

    def spec(self, **spec: Any) -> str:
        connector = {"type": self.config.type, "params": dict(self.config.params)}
        return json.dumps({"connector": connector, **spec})

    def run(self, **spec: Any) -> dict[str, Any]:
        result = self.original.run(OLD, self.spec(**spec))
        return dict(json.loads(result.stdout.splitlines()[-1]))

    def start(self, **spec: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(self.original.python), "-c", OLD, self.spec(**spec)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def lengths(self, queues: list[str]) -> dict[str, int]:
        return dict(self.run(lengths=queues)["lengths"])

    def keys(self, names: list[str]) -> dict[str, str | None]:
        return dict(self.run(read_keys=names)["keys"])


def cli(config: Connector, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``sergeant ARGS`` in its own process, on ``config``."""
    env = dict(os.environ, SERGEANT_CONNECTOR=connector_json(config))
    return subprocess.run(
        [sys.executable, "-m", "sergeant", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def cli_json(config: Connector, *args: str, cwd: Path) -> dict[str, Any]:
    result = cli(config, *args, "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


class Recorder(sergeant.Worker):
    """Keeps every task it works; stops itself if starved (a bound, should tasks be missing)."""

    settings: WorkerConfig

    def generate_config(self) -> WorkerConfig:
        return self.settings

    def __init__(self) -> None:
        super().__init__()
        self.ran: list[sergeant.Task] = []

    def work(self, task: sergeant.Task) -> None:
        self.ran.append(task)

    def on_starvation(self, time_with_no_tasks: int) -> None:
        self.stop()


def run_worker(
    config: Connector, queue: str, count: int, encoder: Encoder | None = None
) -> list[sergeant.Task]:
    """Run a worker of ours on ``queue`` until it has worked ``count`` tasks."""
    settings = WorkerConfig(
        name=queue,
        connector=config,
        encoder=encoder or Encoder(),
        max_tasks_per_run=count,
        starvation=Starvation(60),
    )
    worker = type("Configured", (Recorder,), {"settings": settings})()
    worker.init_worker()
    try:
        worker.work_loop()
    finally:
        worker.close()
    return worker.ran


def drain(config: Connector, queue: str) -> list[sergeant.Task]:
    """Pop every ready task of ``queue`` from our layout, decoded (msgpack)."""
    encoder = TaskEncoder()
    tasks: list[sergeant.Task] = []
    with sergeant.connect(config) as ours:
        while batch := ours.queue_pop_bulk(queue, 1000):
            tasks += [encoder.decode_task(item) for item in batch]
    return tasks


def only_with(backend: str) -> Callable[[T], T]:
    """Run the test only when ``backend`` is among the e2e backends (a skip allowed
    even under SERGEANT_TEST_NO_SKIP, since narrowing the backends is deliberate)."""
    reason = f"SERGEANT_TEST_E2E_BACKENDS leaves out {backend}"

    def mark(test: T) -> T:
        skip = pytest.mark.skipif(backend not in BACKENDS, reason=reason)
        return pytest.mark.allowed_skip(reason)(skip(test))

    return mark


@pytest.fixture(params=[b for b in ("local", "redis") if b in BACKENDS])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Connector:
    """A connector config both Sergeant 0.27.0 and ours accept, on storage of this test alone."""
    if request.param == "local":
        return Connector(type="local", params={"file_path": str(tmp_path / "shared.sqlite3")})
    server = request.getfixturevalue("redis_server_factory")()
    return Connector(type="redis", params={"nodes": [server.node()]})


@pytest.fixture
def old(original: OriginalSergeant, storage: Connector) -> OldSergeant:
    return OldSergeant(original, storage)


@pytest.fixture
def pushed(old: OldSergeant, storage: Connector) -> dict[tuple[str, int], dict[str, Any]]:
    """Sergeant 0.27.0's pushes of :func:`old_spec`, by (queue, n); ours then holds a
    different value under ``cfg:clash``."""
    tasks = old.run(**old_spec())["tasks"]
    with sergeant.connect(storage) as ours:
        ours.key_set("cfg:clash", OUR_CLASH)
    return {(task["queue"], task["n"]): task for task in tasks}


def test_stats_warns_and_dry_run_counts_everything_and_moves_nothing(
    storage: Connector, old: OldSergeant, pushed: dict[Any, Any], tmp_path: Path
) -> None:
    stats = cli(storage, "stats", *QUEUES, "--json", cwd=tmp_path)
    assert stats.returncode == 0, stats.stderr
    shown = json.loads(stats.stdout)
    for queue in QUEUES:
        assert shown[queue]["legacy"] == PER_QUEUE
        assert shown[queue]["ready"] == shown[queue]["delayed"] == 0
        assert (
            f"{PER_QUEUE} tasks of queue {queue!r} wait in Sergeant 0.27.0's storage layout"
            in stats.stderr
        )
        assert f"`sergeant migrate {queue}`" in stats.stderr

    report = cli_json(storage, "migrate", "--dry-run", "--keys", "cfg:*", cwd=tmp_path)

    high = 1 if storage.type == "local" else 0  # Sergeant's Redis lists kept no priority
    assert report["dry_run"] is True
    assert report["queues"] == {
        queue: {"ready": 3, "high": high, "delayed": 2, "total": PER_QUEUE} for queue in QUEUES
    }
    assert report["items"] == PER_QUEUE * len(QUEUES)
    assert report["keys"] == 2  # cfg:a and cfg:b; not cfg:clash (ours differs), not 'other'
    assert report["key_conflicts"] == ["cfg:clash"]
    assert report["locks"] == 1
    assert any("1 Sergeant 0.27.0 locks are held" in note for note in report["notes"])
    found = {(e["serializer"], e["compressor"]) for e in report["encodings"]}
    assert found == set(ENCODINGS)

    assert old.lengths(QUEUES) == dict.fromkeys(QUEUES, PER_QUEUE)
    assert all(old.keys(["cfg:a", "cfg:b", "cfg:clash"]).values())
    with sergeant.connect(storage) as ours:
        assert [ours.queue_length(q, include_delayed=True) for q in QUEUES] == [0] * len(QUEUES)
        assert ours.key_get("cfg:a") is None


def test_migrate_moves_everything_and_our_workers_run_each_task_once(
    storage: Connector, old: OldSergeant, pushed: dict[Any, Any], tmp_path: Path
) -> None:
    moved = cli(storage, "migrate", "--keys", "cfg:*", cwd=tmp_path)
    assert moved.returncode == 0, moved.stderr
    for queue in QUEUES:
        assert f"{queue}: moved 3 ready" in moved.stdout
    assert "keys: moved 2" in moved.stdout
    assert "key 'cfg:clash' left in the old layout" in moved.stdout
    assert "sergeant.config.Encoder(serializer='pickle', compressor='bzip2')" in moved.stdout

    assert old.lengths(QUEUES) == dict.fromkeys(QUEUES, 0)
    left = old.keys(["cfg:a", "cfg:b", "cfg:clash", "other"])
    assert left["cfg:a"] is None
    assert left["cfg:b"] is None
    assert left["cfg:clash"] is not None  # ours holds another value: both stay
    assert left["other"] is not None  # not matched by the pattern
    with sergeant.connect(storage) as ours:
        assert TaskEncoder().decode(ours.key_get("cfg:a")) == KEYS["cfg:a"]
        assert TaskEncoder().decode(ours.key_get("cfg:b")) == KEYS["cfg:b"]
        assert ours.key_get("cfg:clash") == OUR_CLASH
        for queue in QUEUES:
            stats = ours.queue_stats(queue)
            assert sum(n.ready + n.delayed for n in stats) == PER_QUEUE
            assert sum(n.delayed for n in stats) >= 1  # due in an hour: still delayed

    for queue, (serializer, compressor) in zip(QUEUES, ENCODINGS, strict=True):
        encoder = Encoder(serializer=serializer, compressor=compressor)
        ran = run_worker(storage, queue, len(RUNNABLE), encoder)
        assert sorted(task.kwargs["n"] for task in ran) == list(RUNNABLE), queue
        assert ran[0].kwargs["n"] == 2  # the HIGH task first
        for task in ran:
            n = task.kwargs["n"]
            assert task.kwargs == expected_kwargs(queue, n)
            assert task.trace_id == f"trace-{queue}"
            assert task.date == pushed[(queue, n)]["date"]
            assert task.run_count == 0
        with sergeant.connect(storage) as ours:
            stats = ours.queue_stats(queue)
            assert [sum(n.ready for n in stats), sum(n.in_flight for n in stats)] == [0, 0]
            assert sum(n.delayed for n in stats) == 1  # the task due in an hour
            assert ours.queue_length(dead_queue_name(queue), include_delayed=True) == 0


def test_running_migrate_again_moves_nothing(
    storage: Connector, old: OldSergeant, pushed: dict[Any, Any], tmp_path: Path
) -> None:
    first = cli_json(storage, "migrate", "--keys", "cfg:*", cwd=tmp_path)
    assert first["items"] == PER_QUEUE * len(QUEUES)
    assert first["keys"] == 2

    again = cli_json(storage, "migrate", "--keys", "cfg:*", cwd=tmp_path)

    assert again["queues"] == {}
    assert again["items"] == 0
    assert again["keys"] == 0
    assert again["key_conflicts"] == ["cfg:clash"]  # still undecided, still reported
    with sergeant.connect(storage) as ours:
        for queue in QUEUES:
            assert ours.queue_length(queue, include_delayed=True) == PER_QUEUE


def test_an_old_producer_and_worker_busy_while_migrate_runs_lose_nothing(
    storage: Connector, old: OldSergeant, tmp_path: Path
) -> None:
    stop = tmp_path / "stop-pushing"
    producer = old.start(stream={"queue": "live", "stop": str(stop), "cap": 1_000_000})
    try:
        assert producer.stdout is not None
        assert producer.stdout.readline().strip() == "streaming", producer.stderr
        moved_while_pushing = []
        for _ in range(3):
            moved_while_pushing.append(cli_json(storage, "migrate", "live", cwd=tmp_path)["items"])
            assert producer.poll() is None, "the old producer stopped while migrate ran"
        stop.touch()
        out, err = producer.communicate(timeout=120)
        assert producer.returncode == 0, err
    finally:
        if producer.poll() is None:
            producer.kill()
            producer.communicate()
    streamed = json.loads(out.splitlines()[-1])
    pushed, popped_by_old = streamed["streamed"], streamed["popped"]
    assert pushed < 1_000_000, "the producer hit its cap before being told to stop"
    assert all(moved > 0 for moved in moved_while_pushing), moved_while_pushing
    assert popped_by_old

    last = cli_json(storage, "migrate", "live", cwd=tmp_path)["items"]

    moved = sum(moved_while_pushing) + last
    assert moved + len(popped_by_old) == pushed, (moved_while_pushing, last, len(popped_by_old))
    assert old.lengths(["live"]) == {"live": 0}
    ours = [task.kwargs["n"] for task in drain(storage, "live")]
    assert len(ours) == moved
    assert sorted(ours + popped_by_old) == list(range(pushed))  # each on one side, once


class Interrupted(Exception):
    """Raised from the progress callback: the migration stops between two batches."""


def test_a_migration_stopped_between_batches_resumes_without_loss_or_duplicates(
    storage: Connector, old: OldSergeant
) -> None:
    total = 2500  # more than one batch
    kwargs = [{"n": n} for n in range(total)]
    old.run(pushes=[{"queue": "bulk", "serializer": "msgpack", "bulk": True, "kwargs": kwargs}])

    def stop_after_first_batch(moved: int) -> None:
        raise Interrupted(moved)

    with sergeant.connect(storage) as ours, pytest.raises(Interrupted):
        ours.migrate_legacy(["bulk"], progress=stop_after_first_batch)
    with sergeant.connect(storage) as ours:
        first = ours.queue_length("bulk", include_delayed=True)
    assert 0 < first < total
    assert old.lengths(["bulk"]) == {"bulk": total - first}

    with sergeant.connect(storage) as ours:
        report = ours.migrate_legacy(["bulk"])
    assert report.items == total - first
    assert old.lengths(["bulk"]) == {"bulk": 0}
    assert sorted(task.kwargs["n"] for task in drain(storage, "bulk")) == list(range(total))


def test_a_worker_warns_once_about_tasks_left_in_the_old_layout(
    storage: Connector, old: OldSergeant, caplog: pytest.LogCaptureFixture
) -> None:
    queue = f"warned-{storage.type}-{time.monotonic_ns()}"
    old.run(pushes=[{"queue": queue, "serializer": "msgpack", "kwargs": [{"n": 1}, {"n": 2}]}])
    with sergeant.connect(storage) as ours:
        ours.queue_push(queue, TaskEncoder().encode_task(sergeant.Task(kwargs={"n": 0})))
        ours.queue_push(queue, TaskEncoder().encode_task(sergeant.Task(kwargs={"n": -1})))

    with caplog.at_level(logging.WARNING):
        assert [t.kwargs["n"] for t in run_worker(storage, queue, 1)] == [0]
        assert [t.kwargs["n"] for t in run_worker(storage, queue, 1)] == [-1]

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert f"2 tasks of queue {queue!r} wait in Sergeant 0.27.0's storage layout" in warnings[0]
    assert f"`sergeant migrate {queue}`" in warnings[0]


@only_with("redis")
def test_redis_keys_move_to_the_node_ours_hashes_them_to(
    original: OriginalSergeant, redis_server_factory: Any, tmp_path: Path
) -> None:
    servers = [redis_server_factory(), redis_server_factory()]
    config = Connector(type="redis", params={"nodes": [s.node() for s in servers]})
    old = OldSergeant(original, config)
    names = [f"k:{n}" for n in range(20)]
    kwargs = [{"n": n} for n in range(40)]
    old.run(
        pushes=[{"queue": "spread", "serializer": "msgpack", "kwargs": kwargs}],
        set_keys={name: name.upper() for name in names},
    )

    report = cli_json(config, "migrate", "--keys", "k:*", cwd=tmp_path)

    assert report["queues"] == {"spread": {"ready": 40, "high": 0, "delayed": 0, "total": 40}}
    assert report["keys"] == len(names)
    assert set(old.keys(names).values()) == {None}
    with sergeant.connect(config) as ours:
        assert {name: TaskEncoder().decode(ours.key_get(name)) for name in names} == {
            name: name.upper() for name in names
        }
        assert sorted(n.ready for n in ours.queue_stats("spread")) != [0, 40]  # on both nodes
    assert sorted(task.kwargs["n"] for task in drain(config, "spread")) == list(range(40))


@only_with("local")
def test_local_an_old_process_cannot_open_the_file_while_ours_holds_it(
    original: OriginalSergeant, tmp_path: Path
) -> None:
    """What docs/upgrading-from-sergeant.md says: Sergeant 0.27.0 sets journal_mode=OFF when
    it opens the file, which SQLite refuses while any process of ours has it open (WAL)."""
    config = Connector(type="local", params={"file_path": str(tmp_path / "shared.sqlite3")})
    old = OldSergeant(original, config)
    with sergeant.connect(config) as ours:
        ours.queue_push("held", b"x")
        refused = original.run(OLD, old.spec(lengths=["held"]), check=False)
    assert refused.returncode != 0
    assert "database is locked" in refused.stderr
    assert old.lengths(["held"]) == {"held": 0}  # with ours closed it opens again


@only_with("local")
def test_bad_arguments_fail_with_one_clear_line(tmp_path: Path) -> None:
    config = Connector(type="local", params={"file_path": str(tmp_path / "shared.sqlite3")})
    cases = [
        (("migrate", ""), "sergeant: error: invalid queue_name: ''"),
        (("migrate", "--keys", "a", "--no-keys"), "argument --no-keys: not allowed with"),
        (("migrate", "--keys"), "argument --keys: expected one argument"),
        (("migrate", "--keys", ""), "sergeant: error: invalid --keys"),
        (("migrate", "--connector", "nosuch"), "nosuch"),
    ]
    for args, message in cases:
        result = cli(config, *args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stdout == ""


@only_with("mongo")
def test_mongo_migration_is_not_supported_and_says_so(tmp_path: Path, mongo_server: Any) -> None:
    from sergeant_test_support.mongo_fixtures import mongo_connector_params

    config = Connector(type="mongo", params=mongo_connector_params(mongo_server))
    for args in (("migrate",), ("migrate", "--dry-run", "--json")):
        result = cli(config, *args, cwd=tmp_path)
        assert result.returncode == 1, result
        assert "sergeant migrate does not support connector type 'mongo'" in result.stderr
        assert result.stdout == ""
    with sergeant.connect(config) as ours:
        assert "migrate_legacy" not in ours.capabilities
        with pytest.raises(StorageError, match=r"cannot migrate Sergeant 0\.27\.0 data"):
            ours.migrate_legacy()
