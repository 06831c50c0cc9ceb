"""Sergeant's behaviours on every backend, against real servers and real processes.

Proves, on local, redis and mongo: ``key_set`` overwrites and returns True only
when the key was new (also when writers race); ``lock.set_ttl(0)`` frees the lock
and returns True for its holder, False (changing nothing) for anyone else; a
lock object garbage-collected while held frees its lock, from the release
thread of its own process (another process sees it free while the first still
runs), and only if it still owns it; ``sergeant stats`` with no queue lists
every queue holding tasks (text and ``--json``, dead letters folded into their
queue); the CLI counts its nouns (``pushed 1 task``, ``requeued 1 dead letter``);
``sergeant --version`` lists the installed backends.
"""

from __future__ import annotations

import gc
import importlib.metadata
import json
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
import sergeant
from conftest import Processes, connector_json
from sergeant.broker import Broker
from sergeant.config import Connector
from sergeant.connector import wait_collected_released

WAIT = 30.0  # seconds: generous, for a busy machine


@pytest.fixture
def other(connector_config: Connector) -> Iterator[sergeant.Connector]:
    """A second connection to the test's storage."""
    with sergeant.connect(connector_config) as second:
        yield second


# key_set ------------------------------------------------------------------------


def test_key_set_overwrites_and_says_whether_the_key_was_new(
    connector: sergeant.Connector, other: sergeant.Connector, queue_name: str
) -> None:
    key = f"{queue_name}-key"
    assert connector.key_set(key, b"first") is True
    assert connector.key_set(key, b"second") is False
    assert other.key_get(key) == b"second"
    assert other.key_set(key, b"third") is False
    assert connector.key_get(key) == b"third"
    assert connector.key_delete(key) is True
    assert other.key_set(key, b"again") is True
    assert connector.key_get(key) == b"again"


def test_of_writers_racing_on_a_new_key_exactly_one_is_told_it_was_new(
    connector_config: Connector, connector: sergeant.Connector, queue_name: str
) -> None:
    key, writers = f"{queue_name}-race", 6
    connections = [sergeant.connect(connector_config) for _ in range(writers)]
    start = threading.Barrier(writers)
    results: dict[int, bool] = {}

    def write(number: int) -> None:
        start.wait(WAIT)
        results[number] = connections[number].key_set(key, f"writer {number}".encode())

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
    finally:
        for live in connections:
            live.close()
    assert len(results) == writers
    assert sorted(results.values()) == [False] * (writers - 1) + [True]
    assert connector.key_get(key) in {f"writer {n}".encode() for n in range(writers)}


# lock.set_ttl(0) -------------------------------------------------------------------


def test_set_ttl_zero_frees_the_lock_for_its_holder_only(
    connector: sergeant.Connector, other: sergeant.Connector, queue_name: str
) -> None:
    name = f"{queue_name}-lock"
    holder = connector.lock(name)
    assert holder.acquire(timeout=0, ttl=60)
    rival = other.lock(name)
    assert rival.set_ttl(0) is False  # not the holder: nothing changes
    assert rival.is_locked()
    assert holder.set_ttl(0) is True
    assert not rival.is_locked()
    assert rival.get_ttl() is None
    assert rival.acquire(timeout=0, ttl=60)  # free at once, not after a second
    assert holder.set_ttl(0) is False  # no longer the holder ...
    assert rival.is_locked()  # ... so the new holder keeps it
    assert holder.release() is False
    assert rival.release() is True


# a lock collected while held ---------------------------------------------------------


def test_a_collected_lock_is_free_at_once_for_its_own_process(
    connector: sergeant.Connector, other: sergeant.Connector, queue_name: str
) -> None:
    name = f"{queue_name}-lock"
    held = connector.lock(name)
    assert held.acquire(timeout=0, ttl=300)
    del held
    gc.collect()
    assert not other.lock(name).is_locked()
    assert other.lock(name).acquire(timeout=0, ttl=60)


def test_the_release_thread_frees_a_collected_lock(
    connector: sergeant.Connector, other: sergeant.Connector, queue_name: str
) -> None:
    name = f"{queue_name}-lock"
    watcher = other.lock(name)  # made first: making a lock also runs queued releases
    held = connector.lock(name)
    assert held.acquire(timeout=0, ttl=300)
    del held
    gc.collect()
    assert wait_collected_released(WAIT)
    assert not watcher.exists()  # the storage's own answer, nothing run in this thread


def test_a_collected_lock_never_frees_a_lock_someone_took_after_it_expired(
    connector: sergeant.Connector, other: sergeant.Connector, queue_name: str
) -> None:
    name = f"{queue_name}-lock"
    expired = connector.lock(name)
    assert expired.acquire(timeout=0, ttl=1)
    successor = other.lock(name)
    assert successor.acquire(timeout=WAIT, check_interval=0.05, ttl=300)  # once it expired
    del expired
    gc.collect()
    assert wait_collected_released(WAIT)
    assert successor.is_locked()
    assert (successor.get_ttl() or 0) > 1
    assert successor.release() is True


HOLDER = """
import gc, json, sys
import sergeant
from sergeant.config import Connector

spec = json.loads(sys.argv[1])
with sergeant.connect(Connector(type=spec["type"], params=spec["params"])) as connector:
    lock = connector.lock(sys.argv[2])
    assert lock.acquire(timeout=0, ttl=300)
    print("held", flush=True)
    sys.stdin.readline()
    del lock
    gc.collect()
    print("dropped", flush=True)
    sys.stdin.readline()
"""


def test_another_process_sees_a_collected_lock_freed_while_its_holder_runs(
    connector_config: Connector, connector: sergeant.Connector, queue_name: str
) -> None:
    name = f"{queue_name}-lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, connector_json(connector_config), name],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline() == "held\n"
        watcher = connector.lock(name)
        assert watcher.is_locked()
        holder.stdin.write("drop\n")
        holder.stdin.flush()
        assert holder.stdout.readline() == "dropped\n"
        # freed by the holder's release thread: its ttl (300 s) cannot explain it
        assert watcher.acquire(timeout=WAIT, check_interval=0.05, ttl=60)
        assert holder.poll() is None  # nor can the holder's exit
        holder.stdin.close()
        assert holder.wait(WAIT) == 0
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


# the CLI --------------------------------------------------------------------------


@pytest.fixture
def fresh_config(
    backend: str, connector_config: Connector, request: pytest.FixtureRequest
) -> Connector:
    """Storage of this test alone (redis: a private server, as the session's is shared)."""
    if backend != "redis":
        return connector_config
    server = request.getfixturevalue("redis_server_factory")()
    return Connector(type="redis", params={"nodes": [server.node()]})


def test_stats_with_no_queue_lists_every_queue_holding_tasks(
    fresh_config: Connector, queue_name: str
) -> None:
    cli = Processes(fresh_config, queue_name)
    empty = cli.run("stats")
    assert (empty.returncode, empty.stdout) == (0, "no queue holds tasks\n"), empty.stderr
    assert json.loads(cli.run("stats", "--json").stdout) == {}

    pushed = cli.run("push", "alpha", "--kwargs", '{"n": 1}')
    assert (pushed.returncode, pushed.stdout) == (0, "pushed 1 task to 'alpha'\n"), pushed.stderr
    assert cli.run("push", "beta", "--count", "2").stdout == "pushed 2 tasks to 'beta'\n"
    with sergeant.connect(fresh_config) as live:
        Broker(live).dead_letter("gamma", b"\x01payload", "why", 1)

    report = json.loads(cli.run("stats", "--json").stdout)
    assert sorted(report) == ["alpha", "beta", "gamma"]  # gamma:dead is gamma's DEAD column
    counts = {queue: (entry["ready"], entry["dead"]) for queue, entry in report.items()}
    assert counts == {"alpha": (1, 0), "beta": (2, 0), "gamma": (0, 1)}

    text = cli.run("stats")
    assert text.returncode == 0, text.stderr
    header, *rows = text.stdout.splitlines()
    assert header.split()[:2] == ["QUEUE", "NODE"]
    assert {row.split()[0] for row in rows} == {"alpha", "beta", "gamma"}


def test_cli_messages_count_their_nouns(connector_config: Connector, queue_name: str) -> None:
    cli = Processes(connector_config, queue_name)
    with sergeant.connect(connector_config) as live:
        Broker(live).dead_letter(queue_name, b"\x01payload", "why", 1)
    requeued = cli.run("dead", "requeue", queue_name)
    assert requeued.stdout == f"requeued 1 dead letter onto {queue_name!r}\n", requeued.stderr
    assert cli.run("dead", "requeue", queue_name).stdout == (
        f"requeued 0 dead letters onto {queue_name!r}\n"
    )


def test_version_lists_every_installed_backend() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sergeant", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"sergeant {importlib.metadata.version('sergeant')}"
    for backend in ("local", "mongo", "redis"):
        distribution = f"sergeant-{backend}"
        assert f"  {backend}: {distribution} {importlib.metadata.version(distribution)}" in lines


# params checked as the config is built -----------------------------------------------

PARAMS_PROBE = """
import json, sys
from sergeant.config import Connector
from sergeant.errors import ConfigError

try:
    Connector(type=sys.argv[1], params=json.loads(sys.argv[2]))
except ConfigError as exc:
    error = str(exc)
else:
    error = None
drivers = ("redis", "hiredis", "pymongo", "bson", "sqlite3", "_sqlite3")
loaded = [
    name for name in sys.modules
    if name.split(".")[0] in drivers
    or (name.startswith("sergeant_") and name.split(".")[-1] == "connector")
]
print(json.dumps({"error": error, "loaded": sorted(loaded)}))
"""


@pytest.mark.parametrize(
    ("backend", "params", "wrong"),
    [
        ("local", {"file_pth": "/tmp/x.sqlite3"}, "params['file_pth']: 'unknown param'"),
        ("redis", {"nodes": [{"host": "127.0.0.1", "prot": 6379}]}, "'prot'"),
        ("mongo", {"nodes": [{"host": "127.0.0.1", "port": 27017}], "colour": 1}, "'colour'"),
        ("local", {"file_path": "/tmp/x.sqlite3"}, None),
        ("redis", {"nodes": [{"host": "127.0.0.1", "port": 6379}]}, None),
        ("mongo", {"nodes": [{"host": "127.0.0.1", "port": 27017}]}, None),
    ],
)
def test_each_backend_checks_params_as_the_config_is_built_without_its_driver(
    backend: str, params: dict[str, object], wrong: str | None
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PARAMS_PROBE, backend, json.dumps(params)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout)
    if wrong is None:
        assert probe["error"] is None
    else:
        assert "unknown param" in probe["error"]
        assert wrong in probe["error"]
    assert probe["loaded"] == []  # neither the driver nor the plugin's connector module
