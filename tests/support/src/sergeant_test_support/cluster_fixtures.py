"""A real Redis Cluster for tests: six ``redis-server --cluster-enabled yes``
processes on free loopback ports, three primaries with a replica each, made
with ``redis-cli --cluster create``.

Fixtures (registered through the ``pytest11`` entry point):

``redis_cluster``
    one cluster for the whole session (it takes a few seconds to form): use
    unique queue names, never kill its servers.
``redis_cluster_factory``
    ``redis_cluster_factory(**options)`` forms a fresh cluster that is stopped
    at the end of the test: for tests that kill a primary or move slots.

:class:`RedisCluster` works outside fixtures too (benchmarks)::

    cluster = RedisCluster(tmp_dir, node_timeout_ms=2000).start()
    cluster.params()            # {'cluster': {'nodes': [{'host': ..., 'port': ...}, ...]}}
    cluster.primaries()         # the servers that serve slots now
    cluster.primary_of_slot(s)  # the server serving slot s now
    cluster.kill(server)        # SIGKILL one server, like a crash
    cluster.reshard(a, b, n)    # redis-cli --cluster reshard: n slots from a to b
    cluster.wait_ok()           # until every live node says cluster_state:ok
    cluster.stop()

Waits are bounded (:data:`FORM_TIMEOUT`) and poll the servers; nothing sleeps blind.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from sergeant_test_support.redis_fixtures import (
    RedisServer,
    RedisServerError,
    _encode,
    free_cluster_port,
)

__all__ = [
    "FORM_TIMEOUT",
    "RedisCluster",
    "command",
    "redis_cli_executable",
    "redis_cluster",
    "redis_cluster_factory",
]

#: Seconds a cluster may take to form, or to settle after a failover.
FORM_TIMEOUT = 60.0
INSTALL_HINT = "redis-cli is not installed: run `apt-get install -y redis-tools`"


def redis_cli_executable() -> str:
    """Path of ``redis-cli`` (it forms the cluster)."""
    found = shutil.which("redis-cli")
    if not found:
        raise RedisServerError(INSTALL_HINT)
    return found


def command(server: RedisServer, *args: str, timeout: float = 5.0) -> bytes:
    """One command over a raw socket; the reply's payload (a bulk string whole,
    however the bytes arrive; an error or status line as sent)."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(_encode(*args))
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError(f"{server.address} closed the connection")
            data += chunk
        head, _, rest = data.partition(b"\r\n")
        if not head.startswith(b"$"):
            return head
        size = int(head[1:])
        if size < 0:
            return b""
        while len(rest) < size + 2:
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError(f"{server.address} closed the connection")
            rest += chunk
        return rest[:size]


def _fields(reply: bytes) -> dict[str, str]:
    """``CLUSTER INFO``'s ``name:value`` lines as a dict (from a raw bulk reply)."""
    out: dict[str, str] = {}
    for line in reply.decode(errors="replace").splitlines():
        name, colon, value = line.partition(":")
        if colon:
            out[name.strip()] = value.strip()
    return out


class RedisCluster:
    """Six cluster-enabled servers on 127.0.0.1, formed into three shards.

    :param directory: one sub-directory per server goes here.
    :param primaries: how many primaries (each gets ``replicas`` replicas).
    :param replicas: replicas per primary.
    :param node_timeout_ms: ``cluster-node-timeout``: how long a primary may be
        silent before its replica takes over (low, so failover tests are quick).
    :param extra_config: more ``redis.conf`` lines for every server (ACL users...;
        the default user must stay usable: ``redis-cli`` forms the cluster with it).
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        primaries: int = 3,
        replicas: int = 1,
        node_timeout_ms: int = 2000,
        extra_config: Sequence[str] = (),
    ) -> None:
        self.directory = Path(directory)
        self.node_timeout_ms = node_timeout_ms
        self.servers = [
            RedisServer(
                self.directory / f"node-{i}",
                extra_config=[
                    "cluster-enabled yes",
                    f"cluster-config-file {self.directory / f'node-{i}' / 'nodes.conf'}",
                    f"cluster-node-timeout {node_timeout_ms}",
                    # a shard whose primary and replica are both gone must not stop the others
                    "cluster-require-full-coverage no",
                    "cluster-allow-replica-migration no",
                    # replicas sync at once (a replica never synced cannot take over)
                    "repl-diskless-sync-delay 0",
                    *extra_config,
                ],
                pick_port=free_cluster_port,
            )
            for i in range(primaries * (1 + replicas))
        ]
        self.replicas = replicas
        self.killed: list[RedisServer] = []

    def __repr__(self) -> str:
        return f"RedisCluster({', '.join(s.address for s in self.servers)})"

    # Lifecycle ------------------------------------------------------------

    def start(self) -> RedisCluster:
        """Start the servers, form the cluster, wait until every node says ok."""
        try:
            for server in self.servers:
                server.start()
            addresses = [server.address for server in self.servers]
            done = subprocess.run(
                [
                    redis_cli_executable(),
                    "--cluster",
                    "create",
                    *addresses,
                    "--cluster-replicas",
                    str(self.replicas),
                    "--cluster-yes",
                ],
                capture_output=True,
                timeout=FORM_TIMEOUT,
                check=False,
            )
            if done.returncode != 0:
                raise RedisServerError(
                    f"redis-cli --cluster create failed: {done.stdout[-2000:]!r} "
                    f"{done.stderr[-2000:]!r}"
                )
            self.wait_ok()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every server (by its PID; harmless when already stopped)."""
        for server in self.servers:
            server.stop()

    def kill(self, server: RedisServer) -> None:
        """SIGKILL one server, like a crash."""
        server.kill()
        self.killed.append(server)

    # What the cluster looks like ------------------------------------------

    def live(self) -> list[RedisServer]:
        """The servers whose process runs."""
        return [server for server in self.servers if server.is_running()]

    def params(self, **cluster: Any) -> dict[str, Any]:
        """The redis connector's params for this cluster (``cluster`` adds options)."""
        nodes = [{"host": s.host, "port": s.port} for s in self.servers]
        return {"cluster": {"nodes": nodes, **cluster}}

    def info(self, server: RedisServer) -> dict[str, str]:
        """``CLUSTER INFO`` of one server."""
        return _fields(command(server, "CLUSTER", "INFO"))

    def role(self, server: RedisServer) -> str:
        """``master`` or ``slave``, as the server says of itself (``INFO replication``)."""
        return _fields(command(server, "INFO", "replication")).get("role", "")

    def primaries(self) -> list[RedisServer]:
        """The live servers that are primaries now."""
        return [s for s in self.live() if self.role(s) == "master"]

    def server_at(self, address: str) -> RedisServer:
        """The server listening on ``host:port``."""
        for server in self.servers:
            if server.address == address:
                return server
        raise LookupError(address)

    def primary_of_slot(self, slot: int) -> RedisServer:
        """The server that serves ``slot`` now, as the live primaries see it."""
        for server in self.primaries():
            owned = self.slots_of(server)
            if any(low <= slot <= high for low, high in owned):
                return server
        raise LookupError(f"no live primary serves slot {slot}")

    def keyslot(self, key: str) -> int:
        """``CLUSTER KEYSLOT key``: the slot Redis puts ``key`` in."""
        reply = command(self.live()[0], "CLUSTER", "KEYSLOT", key)
        return int(reply.lstrip(b":"))

    def node_id(self, server: RedisServer) -> str:
        """``CLUSTER MYID``."""
        return command(server, "CLUSTER", "MYID").decode()

    def reshard(self, source: RedisServer, target: RedisServer, slots: int) -> None:
        """Move ``slots`` slots (the lowest ``source`` serves) and their keys to
        ``target`` with ``redis-cli --cluster reshard``, the operator's tool."""
        done = subprocess.run(
            [
                redis_cli_executable(),
                "--cluster",
                "reshard",
                source.address,
                "--cluster-from",
                self.node_id(source),
                "--cluster-to",
                self.node_id(target),
                "--cluster-slots",
                str(slots),
                "--cluster-yes",
            ],
            capture_output=True,
            timeout=FORM_TIMEOUT * 5,
            check=False,
        )
        if done.returncode != 0:
            raise RedisServerError(
                f"redis-cli --cluster reshard failed: {done.stdout[-2000:]!r} "
                f"{done.stderr[-2000:]!r}"
            )

    def slots_of(self, server: RedisServer) -> list[tuple[int, int]]:
        """The slot ranges ``server`` serves, as it says itself."""
        return _slot_ranges(command(server, "CLUSTER", "NODES"))

    # Waiting --------------------------------------------------------------

    def wait_ok(self, timeout: float = FORM_TIMEOUT, primaries: int | None = None) -> None:
        """Until every live server says ``cluster_state:ok`` and knows all 16384
        slots assigned, every live replica's link to its primary is up (a
        replica never synced cannot take over), and, when given, ``primaries``
        live primaries serve the slots."""

        def whole() -> bool:
            for server in self.live():
                info = self.info(server)
                if (
                    info.get("cluster_state") != "ok"
                    or info.get("cluster_slots_assigned") != "16384"
                ):
                    return False
                replication = _fields(command(server, "INFO", "replication"))
                if (
                    replication.get("role") == "slave"
                    and self._primary_alive(replication)
                    and replication.get("master_link_status") != "up"
                ):
                    return False
            return primaries is None or len(self.primaries()) == primaries

        self.wait_until(whole, timeout, "the cluster to be whole (cluster_state:ok everywhere)")

    def _primary_alive(self, replication: dict[str, str]) -> bool:
        address = f"{replication.get('master_host')}:{replication.get('master_port')}"
        return any(server.address == address for server in self.live())

    def wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``condition`` (server errors count as not yet) until true or ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError, ValueError):
                if condition():
                    return
            if time.monotonic() > deadline:
                raise RedisServerError(f"timed out after {timeout} s waiting for {what}: {self}")
            time.sleep(0.05)


def _slot_ranges(nodes_reply: bytes) -> list[tuple[int, int]]:
    """The slot ranges of the ``myself`` line of ``CLUSTER NODES``."""
    for line in nodes_reply.decode(errors="replace").splitlines():
        fields = line.split()
        if len(fields) > 8 and "myself" in fields[2]:
            ranges = []
            for part in fields[8:]:
                if part.startswith("["):
                    continue  # a slot being imported or migrated
                low, _, high = part.partition("-")
                ranges.append((int(low), int(high or low)))
            return ranges
    return []


class RedisClusterFactory:
    """Forms clusters on demand and stops every one it formed."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.clusters: list[RedisCluster] = []

    def __call__(self, **options: Any) -> RedisCluster:
        directory = Path(tempfile.mkdtemp(prefix="cluster-", dir=self.base))
        cluster = RedisCluster(directory, **options)
        self.clusters.append(cluster)
        try:
            return cluster.start()
        except RedisServerError as exc:
            pytest.fail(str(exc), pytrace=False)

    def stop_all(self) -> None:
        for cluster in self.clusters:
            cluster.stop()
        self.clusters.clear()


def _factory(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[RedisClusterFactory]:
    try:
        redis_cli_executable()
    except RedisServerError as exc:
        pytest.fail(str(exc), pytrace=False)
    factory = RedisClusterFactory(tmp_path_factory.mktemp(name))
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="session")
def _redis_cluster_session_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RedisClusterFactory]:
    yield from _factory(tmp_path_factory, "cluster-session")


@pytest.fixture(scope="session")
def redis_cluster(_redis_cluster_session_factory: RedisClusterFactory) -> RedisCluster:
    """One cluster (3 primaries, 1 replica each) shared by the whole session."""
    return _redis_cluster_session_factory()


@pytest.fixture
def redis_cluster_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., RedisCluster]]:
    """Form fresh clusters for one test: ``redis_cluster_factory(node_timeout_ms=...)``."""
    yield from _factory(tmp_path_factory, "cluster-test")
