"""A real Redis Sentinel deployment for tests: 1 primary, 2 replicas, 3 sentinels.

Every process is a ``redis-server`` on a free loopback port (a sentinel is
``redis-server <conf> --sentinel``, the same binary as ``redis-sentinel``), in
its own directory, stopped by PID.

Fixtures (registered through the ``pytest11`` entry point):

``sentinel_deployment``
    one deployment for the whole session (nothing kills it; use unique names).
``sentinel_factory``
    ``sentinel_factory(**options)`` starts a fresh deployment stopped at the end
    of the test; use it when a test kills servers. Options are those of
    :class:`SentinelDeployment`.

Outside fixtures::

    deployment = SentinelDeployment(tmp_dir, down_after_ms=1000).start()
    deployment.params(min_replicas=1)   # the redis connector's params
    old = deployment.kill_primary()     # SIGKILL the current primary
    deployment.wait_failover(old)       # until the sentinels name another, serving
    deployment.stop()

Waits poll a condition with a bound (:data:`WAIT_TIMEOUT`), never sleep blindly.
The fixture talks to the servers with redis-py (imported when used).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sergeant_test_support.redis_fixtures import (
    HOST,
    RedisServer,
    RedisServerError,
    free_port,
    redis_server_executable,
)

__all__ = [
    "SentinelDeployment",
    "SentinelServer",
    "sentinel_deployment",
    "sentinel_factory",
]

#: Seconds any wait on the deployment may take before it fails.
WAIT_TIMEOUT = 60.0
SERVICE = "sergeant"


def wait_until(condition: Callable[[], Any], what: str, timeout: float = WAIT_TIMEOUT) -> Any:
    """Poll ``condition`` until it returns something truthy (returned), or fail
    after ``timeout`` seconds naming ``what``. Errors raised by it count as not yet."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
        except Exception as exc:  # a server still starting, a sentinel not yet told
            last = exc
        else:
            if result:
                return result
        time.sleep(0.05)
    raise RedisServerError(f"timed out after {timeout:g} s waiting for {what} (last error: {last})")


def _client(port: int, password: str | None = None) -> Any:
    import redis

    return redis.Redis(HOST, port, password=password, socket_timeout=5, socket_connect_timeout=2)


class SentinelServer:
    """One sentinel process (``redis-server sentinel.conf --sentinel``)."""

    def __init__(self, directory: Path, monitor: str, password: str | None) -> None:
        self.directory = directory
        self.monitor = monitor  # the config lines naming the service
        self.password = password
        self.host = HOST
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"SentinelServer({self.host}:{self.port}, pid={self.pid})"

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return self._process.pid if self._process is not None else None

    def client(self) -> Any:
        """A redis-py client to this sentinel."""
        return _client(self.port, self.password)

    def start(self) -> SentinelServer:
        """Start on a free port and wait until it answers PING."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            port = free_port()
            config = self.directory / "sentinel.conf"
            lines = [
                f"bind {self.host}",
                f"port {port}",
                f"dir {self.directory}",
                "daemonize no",
                "protected-mode no",
                "loglevel notice",
                self.monitor,
            ]
            if self.password:
                lines.append(f"requirepass {self.password}")
            config.write_text("\n".join(lines) + "\n")
            config.chmod(0o600)
            log = (self.directory / "sentinel.log").open("ab")
            try:
                self._process = subprocess.Popen(
                    [redis_server_executable(), str(config), "--sentinel"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=self.directory,
                )
            finally:
                log.close()
            self.port = port
            with contextlib.suppress(RedisServerError):
                wait_until(self._answers, f"sentinel on port {port}", timeout=15)
                return self
            self.stop()
        raise RedisServerError(f"sentinel did not start; see {self.directory / 'sentinel.log'}")

    def _answers(self) -> bool:
        if self._process is None or self._process.poll() is not None:
            raise RedisServerError("the sentinel process exited")
        return bool(self.client().ping())

    def stop(self) -> None:
        """SIGTERM by PID and wait (SIGKILL if it lingers). Harmless if not running."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


class SentinelDeployment:
    """A primary with two replicas (``replicaof``) and three sentinels (quorum 2).

    :param directory: where each process gets its own directory.
    :param password: ``requirepass`` of the primary and replicas (``masterauth``
        too; the sentinels get it as ``auth-pass``).
    :param sentinel_password: ``requirepass`` of the sentinels.
    :param down_after_ms: how long the primary must be silent for the
        sentinels to call it down (``down-after-milliseconds``).
    :param failover_timeout_ms: ``failover-timeout``.
    :param appendonly: AOF on every data server (``appendfsync always``).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        password: str | None = None,
        sentinel_password: str | None = None,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
        appendonly: bool = False,
        service_name: str = SERVICE,
    ) -> None:
        self.directory = Path(directory)
        self.password = password
        self.sentinel_password = sentinel_password
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.appendonly = appendonly
        self.service_name = service_name
        self.servers: list[RedisServer] = []
        self.sentinels: list[SentinelServer] = []

    def __repr__(self) -> str:
        return f"SentinelDeployment(servers={self.servers}, sentinels={self.sentinels})"

    # Lifecycle ------------------------------------------------------------

    def start(self) -> SentinelDeployment:
        """Start the primary, the replicas, then the sentinels; return once the
        replicas are in sync and every sentinel knows both replicas and the
        other two sentinels (so a failover can be voted)."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        # A replica syncs at once (the default waits 5 s for more replicas).
        auth = ["repl-diskless-sync-delay 0"]
        if self.password:
            auth.append(f"masterauth {self.password}")
        primary = RedisServer(
            self.directory / "primary",
            password=self.password,
            appendonly=self.appendonly,
            extra_config=auth,
        ).start()
        self.servers = [primary]
        for index in (1, 2):
            replica = RedisServer(
                self.directory / f"replica{index}",
                password=self.password,
                appendonly=self.appendonly,
                extra_config=[*auth, f"replicaof {HOST} {primary.port}"],
            )
            self.servers.append(replica.start())
        wait_until(lambda: self._online_replicas(primary) == 2, "both replicas in sync")
        monitor = [
            f"sentinel monitor {self.service_name} {HOST} {primary.port} 2",
            f"sentinel down-after-milliseconds {self.service_name} {self.down_after_ms}",
            f"sentinel failover-timeout {self.service_name} {self.failover_timeout_ms}",
            f"sentinel parallel-syncs {self.service_name} 2",
        ]
        if self.password:
            monitor.append(f"sentinel auth-pass {self.service_name} {self.password}")
        for index in (1, 2, 3):
            sentinel = SentinelServer(
                self.directory / f"sentinel{index}", "\n".join(monitor), self.sentinel_password
            )
            self.sentinels.append(sentinel.start())
        for sentinel in self.sentinels:
            wait_until(
                lambda sentinel=sentinel: self._sentinel_ready(sentinel),
                f"{sentinel} to see 2 replicas and 2 other sentinels",
            )

    def stop(self) -> None:
        """Stop every process (sentinels first, so none fails over the shutdown)."""
        for sentinel in self.sentinels:
            sentinel.stop()
        for server in self.servers:
            server.stop()

    # What tests use --------------------------------------------------------

    def params(self, **extra: Any) -> dict[str, Any]:
        """The redis connector's params: ``{'sentinel': {...}, **extra}``."""
        sentinel: dict[str, Any] = {
            "nodes": [{"host": s.host, "port": s.port} for s in self.sentinels],
            "service_name": self.service_name,
            "password": self.password,
        }
        if self.sentinel_password:
            sentinel["sentinel_password"] = self.sentinel_password
        return {"sentinel": sentinel, **extra}

    def primary_port(self) -> int:
        """The primary's port as a live sentinel names it."""
        for sentinel in self.sentinels:
            if sentinel.pid is None:
                continue
            with contextlib.suppress(Exception):
                found = sentinel.client().sentinel_get_master_addr_by_name(self.service_name)
                if found:
                    return int(found[1])
        raise RedisServerError("no sentinel names a primary")

    def primary(self) -> RedisServer:
        """The server the sentinels name as primary."""
        port = self.primary_port()
        return next(server for server in self.servers if server.port == port)

    def kill_primary(self) -> RedisServer:
        """SIGKILL the current primary (a crash); returns it (stopped)."""
        primary = self.primary()
        primary.kill()
        return primary

    def wait_failover(self, old: RedisServer, timeout: float = WAIT_TIMEOUT) -> RedisServer:
        """Wait until every sentinel names a primary other than ``old`` and that
        server answers as a primary; returns it."""

        def promoted() -> RedisServer | None:
            ports = {
                int(s.client().sentinel_get_master_addr_by_name(self.service_name)[1])
                for s in self.sentinels
                if s.pid is not None
            }
            if len(ports) != 1 or old.port in ports:
                return None
            (port,) = ports
            role = _client(port, self.password).role()
            return next(s for s in self.servers if s.port == port) if role[0] == b"master" else None

        found: RedisServer = wait_until(promoted, f"a new primary in place of {old}", timeout)
        return found

    def wait_replicas(self, count: int, timeout: float = WAIT_TIMEOUT) -> None:
        """Wait until the current primary has ``count`` replicas online."""
        wait_until(
            lambda: self._online_replicas(self.primary()) >= count,
            f"{count} replicas online",
            timeout,
        )

    # Internals ------------------------------------------------------------

    def _online_replicas(self, server: RedisServer) -> int:
        info = _client(server.port, self.password).info("replication")
        return sum(
            1
            for key, value in info.items()
            if key.startswith("slave")
            and isinstance(value, dict)
            and value.get("state") == "online"
        )

    def _sentinel_ready(self, sentinel: SentinelServer) -> bool:
        client = sentinel.client()
        state = client.sentinel_master(self.service_name)
        replicas = client.sentinel_slaves(self.service_name)
        return int(state["num-other-sentinels"]) >= 2 and len(replicas) >= 2


def _start(base: Path, options: dict[str, Any]) -> SentinelDeployment:
    try:
        redis_server_executable()
        return SentinelDeployment(tempfile.mkdtemp(prefix="sentinel-", dir=base), **options).start()
    except RedisServerError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def sentinel_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelDeployment]:
    """One Sentinel deployment for the whole session; its primary is never
    killed (``down-after-milliseconds`` 30000, so a busy machine fails nothing over)."""
    deployment = _start(tmp_path_factory.mktemp("sentinel-session"), {"down_after_ms": 30000})
    try:
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture
def sentinel_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., SentinelDeployment]]:
    """Start fresh deployments for one test: ``sentinel_factory(down_after_ms=1000)``."""
    base = tmp_path_factory.mktemp("sentinel-test")
    started: list[SentinelDeployment] = []

    def start(**options: Any) -> SentinelDeployment:
        deployment = _start(base, options)
        started.append(deployment)
        return deployment

    try:
        yield start
    finally:
        for deployment in started:
            deployment.stop()
