"""Sergeant's module surface against real servers, with every backend installed.

Proves: the first example of Sergeant's documentation (``import sergeant``
alone, then ``def work(self, task: sergeant.objects.Task)``) runs under the
supervisor on each backend and its ``work`` gets ``sergeant.objects.Task``
objects; Sergeant's connector classes ``sergeant.connector.{local,redis,mongo}
.Connector(...)`` return live connectors on the same storage
``sergeant.connect`` reaches, and reject a wrong param when called; with the
pickle serializer a task is stored as the ``sergeant.objects.Task`` object
itself, which our worker and Sergeant 0.27.0 both read, each from the other.
"""

from __future__ import annotations

import datetime
import json
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sergeant
from sergeant.broker import Broker
from sergeant.config import Connector
from sergeant.encoder import TaskEncoder
from sergeant.errors import ConfigError
from sergeant_test_support.original import OriginalSergeant

FACADES = ("local", "redis", "mongo")

DOCS_FIRST_EXAMPLE = """
import sergeant


class Worker(sergeant.worker.Worker):
    def generate_config(self):
        return sergeant.config.WorkerConfig(
            name={queue!r},
            connector=sergeant.config.Connector(type={type!r}, params={params!r}),
            starvation=sergeant.config.Starvation(time_with_no_tasks=1),
        )

    def work(self, task: sergeant.objects.Task):
        url = task.kwargs["url"]
        kind = f"{{type(task).__module__}}.{{type(task).__qualname__}}"
        self.broker.connector.queue_push({queue!r} + ":seen", f"{{kind}} {{url}}".encode())

    def on_starvation(self, time_with_no_tasks):
        self.stop()
"""


def drain(connector: sergeant.Connector, queue: str) -> list[bytes]:
    items = []
    while (item := connector.queue_pop(queue)) is not None:
        items.append(item)
    return items


def test_the_docs_first_example_runs_under_the_supervisor(
    connector_config: Connector,
    connector: sergeant.Connector,
    queue_name: str,
    tmp_path: Path,
) -> None:
    module = tmp_path / "docs_first_example.py"
    module.write_text(
        DOCS_FIRST_EXAMPLE.format(
            queue=queue_name, type=connector_config.type, params=dict(connector_config.params)
        )
    )
    urls = [f"https://example.com/{n}" for n in range(3)]
    Broker(connector).push_tasks(queue_name, [sergeant.Task(kwargs={"url": u}) for u in urls])
    result = subprocess.run(
        [
            *(sys.executable, "-m", "sergeant.supervisor"),
            *("--worker-module=docs_first_example", "--worker-class=Worker"),
            "--concurrent-workers=1",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    seen = sorted(item.decode() for item in drain(connector, f"{queue_name}:seen"))
    assert seen == [f"sergeant.objects.Task {url}" for url in urls]
    assert connector.queue_length(queue_name, include_delayed=True) == 0


@pytest.fixture(params=FACADES)
def facade_and_config(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[sergeant.Connector, Connector]]:
    """A connector made by Sergeant's class for the backend, and the config of its storage."""
    backend = str(request.param)
    live: sergeant.Connector
    if backend == "local":
        path = str(tmp_path / "facade.sqlite3")
        live = sergeant.connector.local.Connector(path)
        config = Connector(type="local", params={"file_path": path})
    elif backend == "redis":
        nodes = [request.getfixturevalue("redis_server").node()]
        live = sergeant.connector.redis.Connector(nodes=nodes)
        config = Connector(type="redis", params={"nodes": nodes})
    else:
        from sergeant_test_support.mongo_fixtures import mongo_connector_params

        params = mongo_connector_params(request.getfixturevalue("mongo_server"))
        nodes = params.pop("nodes")
        live = sergeant.connector.mongo.Connector(nodes=nodes, **params)
        config = Connector(type="mongo", params={"nodes": nodes, **params})
    with live:
        yield live, config


def test_a_facade_returns_a_live_connector_on_the_storage_connect_reaches(
    facade_and_config: tuple[sergeant.Connector, Connector], queue_name: str
) -> None:
    live, config = facade_and_config
    backend = config.type
    assert isinstance(live, sergeant.Connector)
    assert isinstance(live, getattr(sergeant.connector, backend).Connector)
    for other in set(FACADES) - {backend}:
        assert not isinstance(live, getattr(sergeant.connector, other).Connector)
    live.queue_push_bulk(queue_name, [b"one", b"two"])
    live.key_set(f"{queue_name}-key", b"facade")
    with sergeant.connect(config) as same_storage:
        assert type(same_storage) is type(live)
        assert sorted(d.item for d in same_storage.queue_reserve(queue_name, 10, 30.0)) == [
            b"one",
            b"two",
        ]
        assert same_storage.key_get(f"{queue_name}-key") == b"facade"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: sergeant.connector.local.Connector("/tmp/x.sqlite3", file_pth="y"), "file_pth"),
        (lambda: sergeant.connector.redis.Connector(nodes=[{"host": "h", "prot": 1}]), "prot"),
        (lambda: sergeant.connector.mongo.Connector(nodes=[], colour=1), "colour"),
    ],
)
def test_a_facade_rejects_a_wrong_param_naming_it(call: Any, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        call()


# Pickle: the task object itself ------------------------------------------------


class OneTaskWorker(sergeant.worker.Worker):
    """Works one task (pickle unless told) and keeps what it was given."""

    received: list[sergeant.objects.Task]

    def __init__(self, config: Connector, queue: str, serializer: str = "pickle") -> None:
        self.connector_config, self.queue, self.serializer = config, queue, serializer
        self.received = []
        super().__init__()

    def generate_config(self) -> sergeant.config.WorkerConfig:
        return sergeant.config.WorkerConfig(
            name=self.queue,
            connector=self.connector_config,
            encoder=sergeant.config.Encoder(serializer=self.serializer),
            max_tasks_per_run=1,
        )

    def work(self, task: sergeant.objects.Task) -> None:
        self.received.append(task)


TASK = sergeant.objects.Task(
    kwargs={"url": "https://example.com", "pair": (1, 2), "when": datetime.datetime(2026, 1, 2)},
    trace_id="trace-1",
    date=1_700_000_000.5,
    run_count=2,
)


def test_a_pickled_task_is_stored_as_the_task_object_and_worked_as_one(
    connector_config: Connector, connector: sergeant.Connector, queue_name: str
) -> None:
    Broker(connector, TaskEncoder("pickle")).push_task(queue_name, TASK)
    (stored,) = drain(connector, queue_name)
    loaded = pickle.loads(stored)
    assert type(loaded) is sergeant.objects.Task
    assert loaded == TASK
    connector.queue_push(queue_name, stored)
    worker = OneTaskWorker(connector_config, queue_name)
    summary = worker.work_loop()
    assert summary["counters"].done == 1
    (received,) = worker.received
    assert type(received) is sergeant.objects.Task
    assert received == TASK


SERGEANT_ENCODES = """
import sys, sergeant.encoder.encoder, sergeant.objects
encoder = sergeant.encoder.encoder.Encoder(compressor_name=None, serializer_name=sys.argv[1])
task = sergeant.objects.Task(
    kwargs={"url": "https://example.com", "pair": (1, 2)}, trace_id="t", date=5.0, run_count=1
)
sys.stdout.write(encoder.encode(task).hex())
"""

SERGEANT_DECODES = """
import json, sys, sergeant.encoder.encoder
encoder = sergeant.encoder.encoder.Encoder(compressor_name=None, serializer_name="pickle")
task = encoder.decode(bytes.fromhex(sys.argv[1]))
print(json.dumps({
    "class": f"{type(task).__module__}.{type(task).__qualname__}",
    "kwargs": repr(task.kwargs), "trace_id": task.trace_id, "date": task.date,
    "run_count": task.run_count,
}))
"""


@pytest.mark.parametrize("serializer", ["pickle", "msgpack"])
def test_a_task_encoded_by_sergeant_0_27_runs_in_our_worker(
    original: OriginalSergeant,
    connector_config: Connector,
    connector: sergeant.Connector,
    queue_name: str,
    serializer: str,
) -> None:
    payload = bytes.fromhex(original.run(SERGEANT_ENCODES, serializer).stdout)
    connector.queue_push(queue_name, payload)
    worker = OneTaskWorker(connector_config, queue_name, serializer)
    worker.work_loop()
    (received,) = worker.received
    assert type(received) is sergeant.objects.Task
    assert received == sergeant.objects.Task(
        kwargs={"url": "https://example.com", "pair": (1, 2)}, trace_id="t", date=5.0, run_count=1
    )


def test_our_pickled_task_reads_in_sergeant_0_27(
    original: OriginalSergeant, connector: sergeant.Connector, queue_name: str
) -> None:
    Broker(connector, TaskEncoder("pickle")).push_task(queue_name, TASK)
    (stored,) = drain(connector, queue_name)
    seen = json.loads(original.run(SERGEANT_DECODES, stored.hex()).stdout)
    assert seen == {
        "class": "sergeant.objects.Task",
        "kwargs": repr(TASK.kwargs),
        "trace_id": "trace-1",
        "date": 1_700_000_000.5,
        "run_count": 2,
    }


def test_sergeant_0_27_is_the_original(original: OriginalSergeant) -> None:
    # the interop tests above compare with the real thing, not with ourselves
    shown = original.run("import sergeant, importlib.metadata as m; print(m.version('sergeant'))")
    assert shown.stdout.strip() == "0.27.0"
    assert os.path.realpath(str(original.python)) != os.path.realpath(sys.executable)
