"""``import sergeant`` gives Sergeant 0.27.0's modules, and none of them loads a backend.

Proves, in the core env (no backend installed): a bare ``import sergeant`` in a
fresh interpreter reaches broker, config, connector, encoder, executor, killer,
logging, objects and worker, with the submodules Sergeant's users call through
them, and imports no driver and no plugin; calling a connector facade without
its plugin says what to install; Sergeant's encoder, serializer and compressor
classes carry values there and back (and write what the standard library reads);
``EncodeError`` is both a ``ConfigError`` and a ``TypeError``.
"""

from __future__ import annotations

import bz2
import datetime
import gzip
import json
import lzma
import pickle
import subprocess
import sys
import zlib
from collections.abc import Callable
from typing import Any

import msgpack
import pytest
import sergeant
import sergeant.encoder.compressor
import sergeant.encoder.encoder
import sergeant.encoder.serializer
import sergeant.task
from sergeant.encoder import TaskEncoder
from sergeant.errors import (
    ConfigError,
    ConnectorNotInstalledError,
    EncodeError,
    SergeantError,
    TaskDecodeError,
)
from sergeant.objects import Task

SERGEANT_MODULES = (
    "broker",
    "config",
    "connector",
    "encoder",
    "executor",
    "killer",
    "logging",
    "objects",
    "worker",
)

#: What code written for Sergeant reaches after nothing but ``import sergeant``.
REACHED_AFTER_IMPORT = (
    "sergeant.objects.Task",
    "sergeant.config.Connector",
    "sergeant.config.WorkerConfig",
    "sergeant.worker.Worker",
    "sergeant.broker.Broker",
    "sergeant.executor.Runner",
    "sergeant.killer.Watchdog",
    "sergeant.connector.local.Connector",
    "sergeant.connector.redis.Connector",
    "sergeant.connector.mongo.Connector",
    "sergeant.encoder.encoder.Encoder",
    "sergeant.encoder.serializer.msgpack.Serializer",
    "sergeant.encoder.serializer.pickle.Serializer",
    "sergeant.encoder.serializer.json.Serializer",
    "sergeant.encoder.compressor.zlib.Compressor",
    "sergeant.encoder.compressor.gzip.Compressor",
    "sergeant.encoder.compressor.bzip2.Compressor",
    "sergeant.encoder.compressor.lzma.Compressor",
    "sergeant.logging.logstash.LogstashHandler",
    "sergeant.logging.logstash.BufferedLogstashHandler",
)

#: Modules a backend brings in; a bare ``import sergeant`` loads none of them.
BACKEND_MODULES = (
    "sqlite3",
    "_sqlite3",
    "redis",
    "hiredis",
    "pymongo",
    "bson",
    "sergeant_local",
    "sergeant_redis",
    "sergeant_mongo",
)

PROBE = """
import json, sys
import sergeant

modules = {
    name: getattr(getattr(sergeant, name, None), "__name__", None)
    for name in sys.argv[1].split(",")
}
reached = {}
for dotted in sys.argv[2].split(","):
    value = sergeant
    try:
        for part in dotted.split(".")[1:]:
            value = getattr(value, part)
    except AttributeError as exc:
        reached[dotted] = f"missing: {exc}"
    else:
        reached[dotted] = f"{value.__module__}.{value.__qualname__}"
backend = sorted(
    name for name in sys.modules if name.split(".")[0] in sys.argv[3].split(",")
)
print(json.dumps({"modules": modules, "reached": reached, "backend": backend}))
"""


@pytest.fixture(scope="module")
def fresh_import() -> dict[str, Any]:
    """What a fresh interpreter sees after nothing but ``import sergeant``."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            ",".join(SERGEANT_MODULES),
            ",".join(REACHED_AFTER_IMPORT),
            ",".join(BACKEND_MODULES),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    probed: dict[str, Any] = json.loads(result.stdout)
    return probed


@pytest.mark.parametrize("name", SERGEANT_MODULES)
def test_import_sergeant_exposes_each_of_sergeants_modules(
    fresh_import: dict[str, Any], name: str
) -> None:
    assert fresh_import["modules"][name] == f"sergeant.{name}"


@pytest.mark.parametrize("dotted", REACHED_AFTER_IMPORT)
def test_sergeants_names_are_reached_through_the_modules(
    fresh_import: dict[str, Any], dotted: str
) -> None:
    reached = fresh_import["reached"][dotted]
    assert not reached.startswith("missing"), reached
    # the attribute path resolves to a class whose name is the last part of it
    assert reached.rsplit(".", 1)[1] == dotted.rsplit(".", 1)[1]


def test_import_sergeant_imports_no_backend_driver_or_plugin(
    fresh_import: dict[str, Any],
) -> None:
    assert fresh_import["backend"] == []


def test_executor_and_killer_are_what_the_worker_runs() -> None:
    from sergeant.executor import _runner
    from sergeant.worker import _worker

    assert _worker.Runner is sergeant.executor.Runner
    assert _runner.Watchdog is sergeant.killer.Watchdog


def test_the_task_is_sergeant_objects_task_under_every_name() -> None:
    assert sergeant.Task is sergeant.objects.Task
    assert sergeant.task.Task is sergeant.objects.Task
    assert sergeant.objects.Task.__module__ == "sergeant.objects"
    task = sergeant.objects.Task(kwargs={"url": "https://example.com"})
    assert (task.trace_id, task.run_count) == (None, 0)


FACADE_CALLS: dict[str, Callable[[], object]] = {
    "local": lambda: sergeant.connector.local.Connector("/tmp/never-created.sqlite3"),
    "redis": lambda: sergeant.connector.redis.Connector(nodes=[{"host": "127.0.0.1", "port": 1}]),
    "mongo": lambda: sergeant.connector.mongo.Connector(nodes=[{"host": "127.0.0.1", "port": 1}]),
}


@pytest.mark.parametrize("backend", sorted(FACADE_CALLS))
def test_a_facade_without_its_plugin_says_what_to_install(backend: str) -> None:
    with pytest.raises(ConnectorNotInstalledError) as caught:
        FACADE_CALLS[backend]()
    assert f"pip install sergeant-{backend}" in str(caught.value)
    assert isinstance(caught.value, SergeantError)


@pytest.mark.parametrize("backend", sorted(FACADE_CALLS))
def test_nothing_but_a_live_connector_of_the_type_is_an_instance_of_a_facade(
    backend: str,
) -> None:
    facade = getattr(sergeant.connector, backend).Connector
    assert not isinstance(object(), facade)
    assert not isinstance(sergeant.config.Connector(type=backend), facade)


VALUES: list[Any] = [
    {"url": "https://example.com", "n": 3, "ratio": 0.5, "tags": ["a", "b"], "none": None},
    ["spam " * 200, 1, 2.5, True],
    "text only",
]


@pytest.mark.parametrize("compressor", [None, "zlib", "gzip", "bzip2", "lzma"])
@pytest.mark.parametrize("serializer", ["msgpack", "pickle", "json"])
def test_sergeants_encoder_round_trips_values_and_tasks(
    serializer: str, compressor: str | None
) -> None:
    encoder = sergeant.encoder.encoder.Encoder(compressor, serializer)
    for value in VALUES:
        assert encoder.decode(encoder.encode(value)) == value
    task = Task(kwargs={"url": "https://example.com/1"}, trace_id="t-7", date=1.5, run_count=2)
    decoded = encoder.decode(encoder.encode(task))
    assert type(decoded) is Task
    assert decoded == task
    # the broker's encoder writes the same tasks, and reads this one's
    assert encoder.task_encoder.decode_task(encoder.encode(task)) == task


def test_sergeants_encoder_compresses_only_when_asked() -> None:
    value = {"text": "spam " * 1000}
    plain = sergeant.encoder.encoder.Encoder().encode(value)
    assert msgpack.unpackb(plain) == value
    assert len(sergeant.encoder.encoder.Encoder("zlib").encode(value)) < len(plain) / 10


def test_msgpack_carries_tuples_bytes_and_datetimes() -> None:
    serializer = sergeant.encoder.serializer.msgpack.Serializer()
    value = {"pair": (1, "a"), "blob": b"\x00\xff", "when": datetime.datetime(2026, 1, 2, 3, 4)}
    assert serializer.unserialize(serializer.serialize(value)) == value


def test_msgpack_reads_sergeants_own_task_tuple_and_datetime_maps() -> None:
    written_by_sergeant = msgpack.packb(
        {
            "__task__": {
                "kwargs": {"pair": {"__tuple__": [1, 2]}, "at": {"__datetime__": 0}},
                "trace_id": "t",
                "date": 10.0,
                "run_count": 1,
            }
        }
    )
    task = sergeant.encoder.serializer.msgpack.Serializer().unserialize(written_by_sergeant)
    assert task == Task(
        kwargs={"pair": (1, 2), "at": datetime.datetime.fromtimestamp(0)},
        trace_id="t",
        date=10.0,
        run_count=1,
    )


def test_pickle_writes_the_task_object_itself() -> None:
    task = Task(kwargs={"n": 1}, trace_id="t", date=2.0, run_count=3)
    for written in (
        sergeant.encoder.serializer.pickle.Serializer().serialize(task),
        TaskEncoder("pickle").encode_task(task),
    ):
        assert b"sergeant.objects" in written
        loaded = pickle.loads(written)
        assert type(loaded) is Task
        assert loaded == task


@pytest.mark.parametrize(
    ("name", "stdlib_decompress"),
    [
        ("zlib", zlib.decompress),
        ("gzip", gzip.decompress),
        ("bzip2", bz2.decompress),
        ("lzma", lzma.decompress),
    ],
)
def test_compressors_write_what_the_standard_library_reads(
    name: str, stdlib_decompress: Callable[[bytes], bytes]
) -> None:
    compressor = getattr(sergeant.encoder.compressor, name).Compressor()
    data = b"spam and eggs " * 100
    packed = compressor.compress(data)
    assert len(packed) < len(data)
    assert stdlib_decompress(packed) == data
    assert compressor.decompress(packed) == data
    with pytest.raises(TaskDecodeError, match=name):
        compressor.decompress(b"not " + name.encode())


@pytest.mark.parametrize(
    ("compressor", "serializer", "field"),
    [("zip", "msgpack", "compressor_name"), (None, "yaml", "serializer_name")],
)
def test_an_unknown_name_is_a_config_error_naming_it(
    compressor: str | None, serializer: str, field: str
) -> None:
    with pytest.raises(ConfigError, match=f"Encoder.{field}"):
        sergeant.encoder.encoder.Encoder(compressor, serializer)


def test_encode_error_is_a_config_error_and_a_type_error() -> None:
    assert issubclass(EncodeError, ConfigError)
    assert issubclass(EncodeError, TypeError)
    with pytest.raises(TypeError) as as_type_error:  # what Sergeant's callers catch
        sergeant.encoder.encoder.Encoder(serializer_name="json").encode({"blob": b"x"})
    assert isinstance(as_type_error.value, EncodeError)
    with pytest.raises(ConfigError, match="msgpack cannot encode"):
        TaskEncoder().encode_task(Task(kwargs={"object": object()}))
