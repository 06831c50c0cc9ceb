"""Running :mod:`scenario_workers` under the supervisor and reading what it did."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import pytest
import sergeant
from scenario_workers import CONNECTOR_ENV, OPTIONS_ENV, QUEUE_ENV, ran_queue
from sergeant.config import Connector as ConnectorConfig

HERE = Path(__file__).resolve().parent


def connector_config(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> ConnectorConfig:
    """A connector config on a fresh file, or on the session's test server."""
    if backend == "local":
        return ConnectorConfig(type="local", params={"file_path": str(tmp_path / "q.sqlite3")})
    if backend == "redis":
        server = request.getfixturevalue("redis_server")
        return ConnectorConfig(type="redis", params={"nodes": [server.node()]})
    from sergeant_test_support.mongo_fixtures import mongo_connector_params

    server = request.getfixturevalue("mongo_server")
    return ConnectorConfig(type="mongo", params=mongo_connector_params(server))


@dataclass
class Runs:
    """The ``<queue>:ran`` records read so far."""

    records: list[dict[str, Any]] = field(default_factory=list)

    def collect(self, connector: sergeant.Connector, queue: str) -> None:
        """Move the records now on the storage into :attr:`records`."""
        while batch := connector.queue_pop_bulk(ran_queue(queue), 1000):
            self.records += [msgpack.unpackb(raw) for raw in batch]

    def by_id(self) -> Counter[int]:
        """How many times each task id ran."""
        return Counter(int(record["id"]) for record in self.records)

    def duplicates(self) -> int:
        """Runs beyond each task's first."""
        return sum(count - 1 for count in self.by_id().values())


def children(pid: int) -> list[int]:
    """The direct children of process ``pid``."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def peak_rss_mib(pid: int) -> float:
    """The peak resident set (VmHWM) of ``pid`` in MiB; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@contextmanager
def supervised(
    config: ConnectorConfig,
    queue: str,
    log_path: Path,
    *,
    concurrency: int = 1,
    options: Mapping[str, Any] | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """``sergeant worker scenario_workers:ScenarioRecorder`` for the block; SIGTERM after."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env[CONNECTOR_ENV] = json.dumps({"type": config.type, "params": dict(config.params)})
    env[QUEUE_ENV] = queue
    env[OPTIONS_ENV] = json.dumps(dict(options or {}))
    env.update(extra_env or {})
    with log_path.open("w") as log:
        supervisor = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sergeant",
                "worker",
                "scenario_workers:ScenarioRecorder",
                "--concurrency",
                str(concurrency),
                "--no-progress",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=HERE,
        )
        try:
            yield supervisor
        finally:
            supervisor.send_signal(signal.SIGTERM)
            try:
                supervisor.wait(60)
            except subprocess.TimeoutExpired:
                supervisor.kill()
                supervisor.wait()


def wait_for(probe: Any, timeout: float, what: str) -> float:
    """Seconds until ``probe()`` is true; AssertionError naming ``what`` past ``timeout``."""
    started = time.monotonic()
    while not probe():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.02)
    return time.monotonic() - started
