"""Real ``redis-server`` processes for tests, on free loopback ports.

Fixtures (registered through the ``pytest11`` entry point):

``redis_server``
    one server for the whole session (flush nothing; use unique names).
``redis_servers``
    two servers for the whole session, for multi-node cases.
``redis_server_factory``
    ``redis_server_factory(**options)`` starts a fresh server that is stopped at
    the end of the test; use it when a test kills, restarts or pauses servers.
    Options are those of :class:`RedisServer`.

:class:`RedisServer` is usable outside fixtures too (benchmarks, scripts)::

    server = RedisServer(tmp_dir, password="s3cret", appendonly=True).start()
    server.node()        # {'host': '127.0.0.1', 'port': ..., 'password': ..., 'database': 0}
    server.kill()        # SIGKILL, like a crash
    server.restart()     # same port, same directory (so the AOF is replayed)
    server.pause(); server.resume()   # SIGSTOP / SIGCONT
    server.stop()        # SIGTERM, then SIGKILL if it lingers

Extra ``redis.conf`` lines (ACL users...) go in ``extra_config``; ``tls=RedisTLS(...)``
serves TLS only (plain port off), and :meth:`RedisServer.node` then carries the
``ssl`` options a client needs::

    RedisServer(tmp_dir, extra_config=["user app on >pw ~sergeant:* +@all"])
    RedisServer(tmp_dir, tls=RedisTLS(cert_file, key_file, ca_file))

If ``redis-server`` is not on ``PATH`` (or in ``SERGEANT_TEST_REDIS_SERVER``),
starting fails with the command that installs it.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "RedisServer",
    "RedisServerError",
    "RedisTLS",
    "redis_server",
    "redis_server_factory",
    "redis_servers",
]

HOST = "127.0.0.1"
INSTALL_HINT = "redis-server is not installed: run `apt-get install -y redis-server`"
_START_TIMEOUT = 15.0


class RedisServerError(RuntimeError):
    """A test redis-server could not be started or stopped."""


def redis_server_executable() -> str:
    """Path of ``redis-server``, from ``SERGEANT_TEST_REDIS_SERVER`` or ``PATH``."""
    found = os.environ.get("SERGEANT_TEST_REDIS_SERVER") or shutil.which("redis-server")
    if not found:
        raise RedisServerError(INSTALL_HINT)
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def free_cluster_port() -> int:
    """A free port for a cluster node, with its bus port (10,000 higher) free too.

    Redis refuses a cluster port over 55535, and the kernel's ephemeral ports
    (what :func:`free_port` gets) reach 60999, often several high ones in a row.
    """
    picker = random.Random()
    for _ in range(500):
        port = picker.randint(20000, 55535)
        if _bindable(port) and _bindable(port + 10000):
            return port
    raise RedisServerError("no free port with a free bus port (port + 10,000) for a cluster node")


@dataclass(frozen=True)
class RedisTLS:
    """Certificate files for a TLS-only server (clients are not asked for a certificate).

    :param cert_file: the server's certificate (PEM), valid for 127.0.0.1.
    :param key_file: its private key (PEM, unencrypted).
    :param ca_file: the CA that signed it; clients trust this file.
    """

    cert_file: Path
    key_file: Path
    ca_file: Path

    def config_lines(self, port: int) -> list[str]:
        """The ``redis.conf`` lines serving TLS on ``port`` and nothing in plain text."""
        return [
            "port 0",
            f"tls-port {port}",
            f"tls-cert-file {self.cert_file}",
            f"tls-key-file {self.key_file}",
            f"tls-ca-cert-file {self.ca_file}",
            "tls-auth-clients no",
        ]

    def client_context(self) -> ssl.SSLContext:
        """A client context trusting :attr:`ca_file` (host names unchecked: a liveness probe)."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.check_hostname = False
        return context


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1 with its own directory.

    :param directory: where the config, log, RDB and AOF files go.
    :param port: a fixed port; by default a free one is picked at first start.
    :param password: set as ``requirepass`` when given.
    :param appendonly: turn on AOF persistence (``appendfsync always``), so a
        SIGKILL loses nothing that was acknowledged.
    :param extra_config: more ``redis.conf`` lines, e.g. ACL ``user`` lines.
    :param tls: serve TLS only, with these certificate files.
    :param pick_port: picks the free port when none is fixed (cluster nodes use
        :func:`free_cluster_port`).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        port: int | None = None,
        password: str | None = None,
        appendonly: bool = False,
        extra_config: Sequence[str] = (),
        tls: RedisTLS | None = None,
        pick_port: Callable[[], int] = free_port,
    ) -> None:
        self.directory = Path(directory)
        self.port = port or 0
        self._pick_port = pick_port
        self.password = password
        self.appendonly = appendonly
        self.extra_config = tuple(extra_config)
        self.tls = tls
        self.host = HOST
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"RedisServer({self.host}:{self.port}, pid={self.pid})"

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def address(self) -> str:
        """``host:port``."""
        return f"{self.host}:{self.port}"

    def node(self, **extra: Any) -> dict[str, Any]:
        """A node entry for the redis connector's ``nodes`` param (with ``ssl`` options
        trusting the test CA when the server speaks TLS)."""
        tls: dict[str, Any] = {}
        if self.tls is not None:
            tls = {"ssl": True, "ssl_ca_certs": str(self.tls.ca_file)}
        return {
            "host": self.host,
            "port": self.port,
            "password": self.password,
            "database": 0,
            **tls,
            **extra,
        }

    def url(self, database: int = 0) -> str:
        """A ``redis://`` (``rediss://`` with TLS) url, with the password when there is one."""
        auth = f":{self.password}@" if self.password else ""
        scheme = "rediss" if self.tls is not None else "redis"
        return f"{scheme}://{auth}{self.host}:{self.port}/{database}"

    # Lifecycle ------------------------------------------------------------

    def start(self) -> RedisServer:
        """Start the process and wait until it answers; returns ``self``."""
        if self.is_running():
            return self
        executable = redis_server_executable()
        self.directory.mkdir(parents=True, exist_ok=True)
        attempts = 1 if self.port else 5
        for _ in range(attempts):
            port = self.port or self._pick_port()
            config = self._write_config(port)
            log = (self.directory / "redis.log").open("ab")
            try:
                self._process = subprocess.Popen(
                    [executable, str(config)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=self.directory,
                )
            finally:
                log.close()
            if self._wait_ready(port):
                self.port = port
                return self
            self._reap(signal.SIGKILL)
        raise RedisServerError(
            f"redis-server did not start on {self.host}:{self.port or 'a free port'}; "
            f"see {self.directory / 'redis.log'}: {self.log_tail()}"
        )

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL after a few seconds). Harmless if not running."""
        self._reap(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL, like a crash: nothing is flushed beyond what the config says."""
        self._reap(signal.SIGKILL)

    def restart(self) -> RedisServer:
        """Start again on the same port and directory (after stop or kill)."""
        self._reap(signal.SIGTERM)
        return self.start()

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections but nothing answers."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        self._signal(signal.SIGCONT)

    def is_running(self) -> bool:
        """True while the process exists (paused counts as running)."""
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of the server's log, for error messages."""
        path = self.directory / "redis.log"
        if not path.exists():
            return ""
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])

    def command(self, *args: str) -> bytes:
        """Send one command over a raw socket (authenticating first); returns the raw reply."""
        with self._connect(self.port, timeout=5) as sock:
            if self.password:
                sock.sendall(_encode("AUTH", self.password))
                _read_reply(sock)
            sock.sendall(_encode(*args))
            return _read_reply(sock)

    # Internals ------------------------------------------------------------

    def _connect(self, port: int, timeout: float) -> socket.socket:
        sock = socket.create_connection((self.host, port), timeout=timeout)
        if self.tls is None:
            return sock
        try:
            return self.tls.client_context().wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise

    def _write_config(self, port: int) -> Path:
        lines = [
            f"bind {self.host}",
            *(self.tls.config_lines(port) if self.tls is not None else [f"port {port}"]),
            f"dir {self.directory}",
            "daemonize no",
            "protected-mode no",
            'save ""',
            "loglevel warning",
            "databases 16",
        ]
        if self.appendonly:
            lines += ["appendonly yes", "appendfsync always"]
        else:
            lines += ["appendonly no"]
        if self.password:
            lines.append(f"requirepass {self.password}")
        lines += self.extra_config
        path = self.directory / "redis.conf"
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        return path

    def _wait_ready(self, port: int) -> bool:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            with (
                contextlib.suppress(OSError),
                self._connect(port, timeout=1) as sock,
            ):
                sock.sendall(_encode("PING"))
                reply = _read_reply(sock)
                # NOAUTH means up and asking for the password; LOADING means not yet.
                if reply.startswith((b"+PONG", b"-NOAUTH")):
                    return True
            time.sleep(0.02)
        return False

    def _signal(self, signum: signal.Signals) -> None:
        if not self.is_running() or self._process is None:
            raise RedisServerError(f"redis-server {self.address} is not running")
        os.kill(self._process.pid, signum)

    def _reap(self, signum: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGCONT)  # a paused server cannot handle SIGTERM
            os.kill(process.pid, signum)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _encode(*args: str) -> bytes:
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _read_reply(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


class RedisServerFactory:
    """Starts servers on demand and stops every one it started."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.servers: list[RedisServer] = []

    def __call__(self, **options: Any) -> RedisServer:
        """Start a new :class:`RedisServer` with ``options``; returns it."""
        directory = Path(tempfile.mkdtemp(prefix="redis-", dir=self.base))
        server = RedisServer(directory, **options)
        self.servers.append(server)
        try:
            return server.start()
        except RedisServerError as exc:
            pytest.fail(str(exc), pytrace=False)

    def stop_all(self) -> None:
        """Stop every server started here."""
        for server in self.servers:
            server.stop()
        self.servers.clear()


def _factory(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[RedisServerFactory]:
    try:
        redis_server_executable()
    except RedisServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    factory = RedisServerFactory(tmp_path_factory.mktemp(name))
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="session")
def _redis_session_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RedisServerFactory]:
    yield from _factory(tmp_path_factory, "redis-session")


@pytest.fixture
def redis_server_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., RedisServer]]:
    """Start fresh servers for one test: ``redis_server_factory(password=..., appendonly=...)``."""
    yield from _factory(tmp_path_factory, "redis-test")


@pytest.fixture(scope="session")
def redis_server(_redis_session_factory: RedisServerFactory) -> RedisServer:
    """One redis-server shared by the whole session."""
    return _redis_session_factory()


@pytest.fixture(scope="session")
def redis_servers(_redis_session_factory: RedisServerFactory) -> list[RedisServer]:
    """Two redis-servers shared by the whole session (for multi-node tests)."""
    return [_redis_session_factory(), _redis_session_factory()]
