"""pytest fixtures for real MongoDB wire-protocol servers.

No mongod can be installed on the project's machines, so by default the tests
run `mongoeco <https://pypi.org/project/mongoeco/>`_'s wire server (in-memory
engine, standalone, loopback, a free port), one process per server, from its own
Python 3.13 venv in ``.cache/mongoeco-venv`` (built by ``scripts/ensure-mongoeco``,
or here on demand). With ``SERGEANT_TEST_MONGO_URI`` set, the same tests use that
server instead (e.g. a real ``mongod --replSet rs0``); a second one for two-node
tests comes from ``SERGEANT_TEST_MONGO_URI_2`` or else from mongoeco.

Fixtures (all yield :class:`MongoServer`):

``mongo_server``           session-wide server.
``mongo_server_2``         a second session-wide server, for two-node setups.
``mongo_server_factory``   call it to start private servers (stopped after the test),
                           e.g. to kill one mid-test.

Helper: :func:`mongo_connector_params` turns servers into the ``mongo`` connector's
``params``. Nothing here imports pymongo, so every tox env can load this plugin.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

__all__ = [
    "LIVE_TIMEOUT",
    "MongoServer",
    "ensure_mongoeco_python",
    "mongo_connector_params",
    "mongo_server",
    "mongo_server_2",
    "mongo_server_factory",
    "start_mongoeco",
]

URI_ENV = "SERGEANT_TEST_MONGO_URI"
URI_2_ENV = "SERGEANT_TEST_MONGO_URI_2"
_START_TIMEOUT = 60.0
#: ``connect_timeout`` for a test server that is up: the connector's 5 s default is
#: a production figure, and the Python test server on a loaded machine (load 4-5
#: on 2 cores) has taken longer than that to answer. Tests of dead nodes pass
#: their own short one. ``SERGEANT_TEST_MONGO_TIMEOUT`` overrides it.
LIVE_TIMEOUT = float(os.environ.get("SERGEANT_TEST_MONGO_TIMEOUT", "60"))
_STOP_TIMEOUT = 10.0
_LAUNCHER = Path(__file__).with_name("mongo_launcher.py")


@dataclass
class MongoServer:
    """A server the tests can reach: a mongoeco process we started, or an external URI.

    :ivar host: loopback address (or the URI's first host).
    :ivar port: its port.
    :ivar uri: set for an external server given by environment variable.
    :ivar process: the mongoeco process, None for an external server.
    """

    host: str
    port: int
    uri: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def kind(self) -> str:
        """``'mongoeco'`` or ``'external'``."""
        return "external" if self.uri is not None else "mongoeco"

    @property
    def pid(self) -> int | None:
        """PID of the mongoeco process, if we started one."""
        return None if self.process is None else self.process.pid

    def node(self) -> dict[str, Any]:
        """This server as one entry of the connector's ``nodes``."""
        if self.uri is not None:
            return {"uri": self.uri}
        return {"host": self.host, "port": self.port}

    def stop(self) -> None:
        """Stop our process by PID (SIGTERM, then SIGKILL after a bound); no-op otherwise."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(_STOP_TIMEOUT)

    def kill(self) -> None:
        """Kill our process at once (SIGKILL), as a crash would."""
        process = self.process
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(_STOP_TIMEOUT)

    @classmethod
    def external(cls, uri: str) -> MongoServer:
        """A server given by URI (never started or stopped here)."""
        parts = urlsplit(uri)
        host = parts.hostname or "localhost"
        return cls(host=host, port=parts.port or 27017, uri=uri)


def _repo_root() -> Path | None:
    configured = os.environ.get("SERGEANT_REPO_ROOT")
    candidates = [Path(configured)] if configured else []
    candidates += [Path.cwd(), *Path.cwd().parents]
    for candidate in candidates:
        if (candidate / "scripts" / "ensure-mongoeco").is_file():
            return candidate
    return None


def ensure_mongoeco_python() -> Path:
    """The mongoeco venv's Python, building the venv with ``scripts/ensure-mongoeco`` if needed."""
    root = _repo_root()
    if root is None:
        pytest.fail(
            "cannot find scripts/ensure-mongoeco: run the tests from the repository "
            "or set SERGEANT_REPO_ROOT"
        )
    python = root / ".cache" / "mongoeco-venv" / "bin" / "python"
    done = subprocess.run(
        ["bash", str(root / "scripts" / "ensure-mongoeco")],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0 or not python.exists():
        pytest.fail(f"scripts/ensure-mongoeco failed:\n{done.stdout}\n{done.stderr}")
    return python


def start_mongoeco(
    python: Path | None = None, port: int = 0, users: dict[str, str] | None = None
) -> MongoServer:
    """Start one mongoeco wire server on loopback and wait until it serves.

    :param port: 0 (the default) lets the OS pick a free port.
    :param users: name to password; when given, the server requires authentication
        (users live in ``admin`` and may do anything).
    """
    python = python or ensure_mongoeco_python()
    accounts = [arg for name, pw in (users or {}).items() for arg in ("--user", f"{name}:{pw}")]
    process = subprocess.Popen(
        [str(python), str(_LAUNCHER), "--port", str(port), *accounts],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + _START_TIMEOUT
    line = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or process.poll() is not None:
                break
            if selector.select(timeout=left):
                chunk = os.read(process.stdout.fileno(), 256)
                if not chunk:
                    break
                line += chunk
    words = line.split()
    if len(words) != 2 or words[0] != b"READY":
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(_STOP_TIMEOUT)
        pytest.fail(f"mongoeco did not start within {_START_TIMEOUT:g} s (said {line!r})")
    return MongoServer(host="127.0.0.1", port=int(words[1]), process=process)


def mongo_connector_params(*servers: MongoServer, **extra: Any) -> dict[str, Any]:
    """``params`` for ``Connector(type='mongo')`` using ``servers`` as the nodes.

    A fresh ``database`` name is used unless ``extra`` gives one, so tests don't
    see each other's data; ``connect_timeout`` is :data:`LIVE_TIMEOUT` unless
    ``extra`` gives one; the rest of ``extra`` is added as is.
    """
    params: dict[str, Any] = {
        "nodes": [server.node() for server in servers],
        "database": f"sergeant_test_{uuid.uuid4().hex[:12]}",
        "connect_timeout": LIVE_TIMEOUT,
    }
    params.update(extra)
    return params


def _session_server(env: str) -> Iterator[MongoServer]:
    uri = os.environ.get(env)
    if uri:
        yield MongoServer.external(uri)
        return
    server = start_mongoeco()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mongo_server() -> Iterator[MongoServer]:
    """A server for the whole session: ``$SERGEANT_TEST_MONGO_URI`` or a mongoeco process."""
    yield from _session_server(URI_ENV)


@pytest.fixture(scope="session")
def mongo_server_2(mongo_server: MongoServer) -> Iterator[MongoServer]:
    """A second, independent server (``$SERGEANT_TEST_MONGO_URI_2`` or mongoeco)."""
    yield from _session_server(URI_2_ENV)


@pytest.fixture
def mongo_server_factory() -> Iterator[Callable[..., MongoServer]]:
    """Start private mongoeco servers on demand; all are stopped after the test.

    Call it as ``mongo_server_factory()`` or ``mongo_server_factory(users={'u': 'pw'})``.
    """
    started: list[MongoServer] = []
    python: list[Path] = []

    def start(users: dict[str, str] | None = None) -> MongoServer:
        if not python:
            python.append(ensure_mongoeco_python())
        server = start_mongoeco(python[0], users=users)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
