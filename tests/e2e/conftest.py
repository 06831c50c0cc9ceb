"""Fixtures for the end-to-end tests: one connector config per backend, and a
helper that runs the ``sergeant`` CLI or the supervisor as a real process.

Worker processes learn their connector, queue and knobs from environment
variables read by :mod:`e2e_workers`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sergeant
from sergeant.config import Connector

HERE = Path(__file__).parent

#: Backends every end-to-end test runs on (``SERGEANT_TEST_E2E_BACKENDS=local`` narrows it).
#: redis joins once its plugin is installed (it had not landed when these tests were written).
_DEFAULT = "local,redis,mongo" if importlib.util.find_spec("sergeant_redis") else "local,mongo"
BACKENDS = os.environ.get("SERGEANT_TEST_E2E_BACKENDS", _DEFAULT).split(",")

#: How many tasks the process tests push: the mongo test server is slow.
SCALE = {"local": 1.0, "redis": 1.0, "mongo": 0.03}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(request.param)


@pytest.fixture
def connector_config(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Connector:
    """A connector config for ``backend`` with storage of this test alone."""
    if backend == "local":
        return Connector(type="local", params={"file_path": str(tmp_path / "queue.sqlite3")})
    if backend == "redis":
        server = request.getfixturevalue("redis_server")
        return Connector(type="redis", params={"nodes": [server.node()]})
    from sergeant_test_support.mongo_fixtures import mongo_connector_params

    server = request.getfixturevalue("mongo_server")
    return Connector(type="mongo", params=mongo_connector_params(server))


@pytest.fixture
def queue_name() -> str:
    return f"e2e-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def connector(connector_config: Connector) -> Iterator[sergeant.Connector]:
    with sergeant.connect(connector_config) as live:
        yield live


def connector_json(config: Connector) -> str:
    return json.dumps({"type": config.type, "params": dict(config.params)})


class Processes:
    """Starts ``sergeant`` CLI processes whose workers see the test's connector and queue."""

    def __init__(self, config: Connector, queue: str) -> None:
        self.config = config
        self.queue = queue
        self.started: list[subprocess.Popen[str]] = []

    def env(self, **options: Any) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
        env["SERGEANT_E2E_CONNECTOR"] = connector_json(self.config)
        env["SERGEANT_E2E_QUEUE"] = self.queue
        env["SERGEANT_E2E_OPTIONS"] = json.dumps(options)
        env["SERGEANT_CONNECTOR"] = connector_json(self.config)
        return env

    def start(self, *args: str, **options: Any) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "sergeant", *args],
            env=self.env(**options),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=HERE,
        )
        self.started.append(process)
        return process

    def run(
        self, *args: str, timeout: float = 60, **options: Any
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sergeant", *args],
            env=self.env(**options),
            capture_output=True,
            text=True,
            cwd=HERE,
            timeout=timeout,
            check=False,
        )

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.communicate()


@pytest.fixture
def processes(connector_config: Connector, queue_name: str) -> Iterator[Processes]:
    helper = Processes(connector_config, queue_name)
    try:
        yield helper
    finally:
        helper.stop_all()
