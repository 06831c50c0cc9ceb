"""The ``redis`` connector on a Redis Cluster: ``params={'cluster': {...}}``.

Shards
    A queue is split into ``shards`` shards (:mod:`sergeant_redis.cluster_params`;
    default: the number of primaries serving slots when the connector
    connects). Every key of shard ``k`` of queue ``q`` carries the same hash
    tag, ``sergeant:queue:{q#j}:<part>``, so the queue scripts run on one slot;
    the lease groups the scripts reach through ``…:leases`` (not as KEYS)
    share the prefix, hence the slot. The connector treats the shards as it
    treats independent nodes: pushes rotate over them, pops and reserves visit
    them in rotation, a shard whose primary fails is skipped for a back-off
    (:mod:`sergeant.nodes`), receipts name their shard.

Which tag (:func:`shard_tags`)
    The slot space is cut into ``shards`` equal ranges; shard ``k``'s tag is
    ``q#j`` for the smallest ``j`` whose slot lies inside range ``k`` (a slot
    off each edge kept clear). That depends on the name and the shard count
    only, so every client agrees; and on a cluster made by
    ``redis-cli --cluster create`` (equal contiguous ranges per primary), the
    default count puts each shard of every queue on a different primary. Every
    client of a queue must use the same ``shards``: a client with fewer never
    visits the others' extra shards.

Keys and locks
    ``sergeant:key:<key>`` and ``sergeant:lock:<name>`` carry no tag: they go
    to the slot Redis's own rule gives them, through the cluster client.

Cluster protocol
    Everything goes through one shared :class:`redis.cluster.RedisCluster`
    client: it follows MOVED and ASK (slot migration), re-reads the slot map
    after a failover, and retries what the cluster asks it to. A shard whose
    call still fails (its primary dead and not yet replaced) raises
    :class:`~sergeant_redis.node.NodeUnavailableError` for that shard, which
    the connector handles as a node that is down.

``min_replicas``
    As on a node (:mod:`sergeant_redis.replication`; the same calls are waited
    for): a write goes, with ``WAIT`` after it in the same round trip, to the
    primary that owns its slot (:meth:`RedisCluster.get_node_from_key`, then a
    non-transactional pipeline on :meth:`RedisCluster.get_redis_connection`),
    so ``WAIT`` counts that primary's replicas and this connection's write.
    A ``MOVED`` reply, a connection error, ``TRYAGAIN``/``CLUSTERDOWN`` or a
    read-only (demoted) primary make the cluster client re-read its slot map
    and the pair is sent again to the primary that owns the slot now; an
    ``ASK`` reply sends it, after ``ASKING``, to the node the slot is migrating
    to. (``WAIT`` sent later on another connection would count none of this
    write, so the pair is never split.) A ``MOVED``/``ASK`` write was refused,
    so sending it again is safe; after a connection error it may be stored
    twice, as with any retry.

Stats
    ``queue_stats`` answers one line per shard, labelled with the primary that
    serves its slot now (``shard 0 @ 10.0.0.1:7000``).
"""

from __future__ import annotations

import contextlib
import functools
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar, Protocol, cast

import redis.backoff
import redis.cluster
import redis.crc
import redis.exceptions
import redis.retry
from sergeant.connector import ACK_AND_RESERVE, BASIC, PEEK, PREFETCH, Connector, NodeStats
from sergeant.errors import AuthenticationError, ConnectorUnavailableError, StorageError
from sergeant.nodes import Health, Rotation

from sergeant_redis import scripts
from sergeant_redis.cluster_params import ClusterParams, parse_cluster
from sergeant_redis.connector import QUEUE_PREFIX, RedisConnector
from sergeant_redis.node import BACKOFF, Node, NodeFullError, NodeUnavailableError, full
from sergeant_redis.permissions import PROBE, PROBE_KEY_PREFIX, check_probe, read_probe
from sergeant_redis.replication import (
    ReplicationError,
    command_writes,
    pipeline_writes,
    script_writes,
    wait_command,
)

__all__ = ["ClusterConnector", "ClusterShard", "shard_tags"]

SLOTS = redis.crc.REDIS_CLUSTER_HASH_SLOTS
#: Tags tried per shard before a shard gets an untuned one (never reached in practice).
_TRIES_PER_SHARD = 64
_CACHE_SIZE = 4096
#: Failures the cluster client gives up on: the shard's slot has no reachable primary.
_UNAVAILABLE = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.MasterDownError,
    redis.exceptions.SlotNotCoveredError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.RedisClusterException,
)
#: What the cluster client raises (RedisClusterException, SlotNotCoveredError: not RedisErrors).
_ERRORS = (redis.exceptions.RedisError, redis.exceptions.RedisClusterException)
_PARTS = tuple(f":{part}" for part in scripts.KEY_PARTS)
_LEASES = ":leases"
#: What joins a lease group's key to its token (``…:leases:<token>``), and a token.
_GROUP = _LEASES + ":"
_TOKEN = re.compile(r"[0-9a-f]{16}")
#: Times a waited write is sent before its failure is raised (the cluster client's own count + 1).
_WAIT_ATTEMPTS = 4
#: Failures after which the slot map is re-read and a waited write sent again.
_REROUTE = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.MovedError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.SlotNotCoveredError,
)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def shard_tags(name: str, shards: int) -> tuple[str, ...]:
    """The hash tag of each shard of queue ``name`` (see the module docstring)."""
    tags: list[str | None] = [None] * shards
    missing = shards
    for j in range(_TRIES_PER_SHARD * shards + 1024):
        tag = f"{name}#{j}"
        slot = redis.crc.key_slot(f"{QUEUE_PREFIX}{{{tag}}}:".encode())
        k = slot * shards // SLOTS
        low, high = -(-k * SLOTS // shards) + 1, (k + 1) * SLOTS // shards - 2
        if tags[k] is None and low <= slot <= high:
            tags[k] = tag
            missing -= 1
            if not missing:
                break
    # A name with '}' fixes the slot whatever j is: its other shards share it.
    return tuple(tag if tag is not None else f"{name}#x{k}" for k, tag in enumerate(tags))


class _Keys:
    """Queue keys as the connector spells them (``sergeant:queue:<name>:<part>``)
    to each shard's (``sergeant:queue:{<tag>}:<part>``), and back; cached."""

    def __init__(self, shards: int) -> None:
        self.shards = shards
        self._to: dict[str, tuple[str, ...]] = {}
        self._tuples: dict[tuple[str, ...], tuple[tuple[str, ...], ...]] = {}
        self._back: dict[str, str] = {}

    def of(self, key: str) -> tuple[str, ...]:
        """``key`` in each shard (unchanged when not a queue key)."""
        found = self._to.get(key)
        if found is not None:
            return found
        base, group, token = key.rpartition(_GROUP)
        if group and base.startswith(QUEUE_PREFIX) and _TOKEN.fullmatch(token):
            # A reserve's lease list (one per call: not cached): its shard's
            # leases key, then the token.
            return tuple(f"{shard_key}:{token}" for shard_key in self.of(base + _LEASES))
        mapped = (key,) * self.shards
        if key.startswith(QUEUE_PREFIX):
            for part in _PARTS:
                if key.endswith(part) and len(key) > len(QUEUE_PREFIX) + len(part):
                    name = key[len(QUEUE_PREFIX) : -len(part)]
                    mapped = tuple(
                        f"{QUEUE_PREFIX}{{{tag}}}{part}" for tag in shard_tags(name, self.shards)
                    )
                    break
        if len(self._to) >= _CACHE_SIZE:
            self._to.clear()
            self._back.clear()
        self._to[key] = mapped
        for shard_key in mapped:
            self._back[shard_key] = key
        return mapped

    def of_all(self, keys: Sequence[str]) -> tuple[tuple[str, ...], ...]:
        """Each shard's spelling of a tuple of keys (a script's KEYS)."""
        if isinstance(keys, tuple):
            found = self._tuples.get(keys)
            if found is not None:
                return found
        mapped = tuple(zip(*(self.of(key) for key in keys), strict=True))
        if isinstance(keys, tuple):
            if len(self._tuples) >= _CACHE_SIZE:
                self._tuples.clear()
            self._tuples[keys] = mapped
        return mapped

    def back(self, shard_key: str) -> str:
        """The connector's spelling of a shard's key."""
        return self._back.get(shard_key, shard_key)


class _Client(Protocol):
    """What the shards use of :class:`redis.cluster.RedisCluster` (its methods are untyped)."""

    PRIMARIES: str

    def execute_command(self, *args: Any) -> Any: ...
    def pipeline(self, transaction: bool = ...) -> Any: ...
    def get_primaries(self) -> list[Any]: ...
    def get_node_from_key(self, key: str) -> Any: ...
    def get_node(self, host: str | None = ..., port: int | None = ...) -> Any: ...
    def get_redis_connection(self, node: Any) -> Any: ...

    nodes_manager: Any

    def scan_iter(self, match: str, count: int, **kwargs: Any) -> Iterator[Any]: ...
    def close(self) -> None: ...


class _Cluster:
    """The one cluster client every shard shares, and its error translation."""

    def __init__(self, params: ClusterParams) -> None:
        self.params = params
        options = params.driver_options()
        node_class = cast(Callable[[str, int], Any], redis.cluster.ClusterNode)
        startup = [node_class(node.host, node.port) for node in params.nodes]
        try:
            self.client: _Client = redis.cluster.RedisCluster(
                startup_nodes=startup,
                # one shard's slots uncovered must not stop the others
                require_full_coverage=False,
                retry=redis.retry.Retry(
                    redis.backoff.ExponentialBackoff(cap=0.5, base=0.05), retries=3
                ),
                **options,
            )
        except _ERRORS as exc:
            raise self.translate(exc, None) from exc
        self._permitted = False
        self._permission_guard = threading.Lock()
        #: Reserves may copy items natively (known after the ACL probe).
        self.native_copy = False
        #: ``WAIT`` after writes, when ``min_replicas`` asks for it.
        self.wait = (
            wait_command(params.min_replicas, params.min_replicas_timeout)
            if params.min_replicas
            else None
        )
        self._backoff = redis.backoff.ExponentialBackoff(cap=0.5, base=0.05)

    def waited(self, shard: ClusterShard, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """``commands`` (in the shard's spelling, on one slot) and ``WAIT`` in
        one round trip on the primary owning the slot (see the module
        docstring); each command's reply or error. Raises
        :class:`ReplicationError` when too few replicas acknowledged, and the
        last redis-py error when the slot's primary never answered."""
        assert self.wait is not None
        key = _slot_key(commands[0])
        asking: Any = None
        failure: BaseException | None = None
        for attempt in range(_WAIT_ATTEMPTS):
            if attempt and asking is None:
                time.sleep(self._backoff.compute(attempt))
            try:
                node = asking if asking is not None else self.client.get_node_from_key(key)
                if node is None:
                    raise redis.exceptions.SlotNotCoveredError(f"no primary serves {key!r}")
                pipe = self.client.get_redis_connection(node).pipeline(transaction=False)
                if asking is not None:
                    pipe.execute_command("ASKING")
                for command in commands:
                    pipe.execute_command(*command)
                pipe.execute_command(*self.wait)
                results = list(pipe.execute(raise_on_error=False))
            except _REROUTE as exc:
                failure, asking = exc, None
                self._reread_slots()
                continue
            if asking is not None:
                results.pop(0)
            asking = None
            # MOVED is a kind of ASK in redis-py: MOVED is looked for first.
            redirect = next((r for r in results if isinstance(r, _REROUTE)), None)
            if redirect is not None:
                failure = redirect
                self._reread_slots()
                continue
            ask = next((r for r in results if isinstance(r, redis.exceptions.AskError)), None)
            if ask is not None:
                failure = ask
                asking = self.client.get_node(host=ask.host, port=ask.port)
                if asking is None:
                    self._reread_slots()
                continue
            acknowledged = results.pop()
            if isinstance(acknowledged, Exception):
                raise acknowledged
            if int(acknowledged) < self.params.min_replicas:
                raise ReplicationError(
                    f"{shard.label} @ {node.host}:{node.port}",
                    int(acknowledged),
                    self.params.min_replicas,
                    self.params.min_replicas_timeout,
                )
            return results
        assert failure is not None
        if isinstance(failure, redis.exceptions.AskError):  # MOVED too: the slot kept moving
            raise redis.exceptions.ClusterError(f"the slot of {key!r} kept moving: {failure}")
        raise failure

    def _reread_slots(self) -> None:
        """The cluster client re-reads its slot map (a failure leaves it as it was)."""
        with contextlib.suppress(*_ERRORS):
            self.client.nodes_manager.initialize()

    def primaries(self) -> int:
        """How many primaries serve slots now."""
        return len(self.client.get_primaries())

    def primary_of(self, key: str) -> str:
        """``host:port`` of the primary that serves ``key``'s slot now."""
        try:
            node = self.client.get_node_from_key(key)
        except (*_ERRORS, IndexError):
            return "no primary"
        return "no primary" if node is None else f"{node.host}:{node.port}"

    def check_permissions(self, shard: ClusterShard) -> None:
        """The node's ACL probe (:mod:`sergeant_redis.permissions`), once per
        client, on keys sharing a hash tag (the probe is one script)."""
        with self._permission_guard:
            if self._permitted:
                return
            token = secrets.token_hex(8)
            keys = [f"{PROBE_KEY_PREFIX}{{{token}}}:{kind}" for kind in ("s", "l", "h", "z", "t")]
            probe = read_probe(shard.run_script(PROBE, keys))
            check_probe(
                probe,
                f"redis cluster {shard.label}",
                lambda names: StorageError(
                    f"redis cluster: the ACL user of cluster.username may not run {names}, "
                    "which sergeant's scripts need; grant the commands listed under "
                    "'A least-privilege ACL user' in sergeant-redis's README"
                ),
            )
            self.native_copy = probe.native_copy
            self._permitted = True

    def translate(self, exc: Exception, shard: ClusterShard | None) -> StorageError:
        reason = (str(exc) or type(exc).__name__).splitlines()[0][:300]
        if _refused_credentials(exc):
            return AuthenticationError(
                "redis cluster refused the credentials; check cluster.username and cluster.password"
            )
        if isinstance(exc, redis.exceptions.NoPermissionError):
            return StorageError(
                f"redis cluster: the ACL user of cluster.username may not do this ({reason}); "
                "allow the key pattern ~sergeant:* and the commands in sergeant-redis's README"
            )
        if isinstance(exc, redis.exceptions.OutOfMemoryError):
            return NodeFullError(
                f"redis cluster {'' if shard is None else shard.label + ' '}{full(exc)}"
            )
        if isinstance(exc, _UNAVAILABLE):
            if shard is None:
                addresses = ", ".join(node.address for node in self.params.nodes)
                return ConnectorUnavailableError(
                    f"no redis cluster node answered ({addresses}): {reason}"
                )
            shard.health.failed()
            return NodeUnavailableError(cast(Node, shard), reason)
        where = "redis cluster" if shard is None else f"redis cluster {shard.label}"
        return StorageError(f"{where} failed: {reason}")


def _refused_credentials(exc: BaseException | None) -> bool:
    """The server refused the credentials (redis-py may wrap that while connecting)."""
    seen = 0
    while exc is not None and seen < 5:
        text = str(exc)
        if isinstance(exc, redis.exceptions.AuthenticationError) or any(
            marker in text
            for marker in ("WRONGPASS", "NOAUTH", "invalid username-password", "Authentication")
        ):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


class ClusterShard:
    """One shard of every queue, as the connector sees a node: the same calls
    (:meth:`execute`, :meth:`script`, :meth:`script_later`, :meth:`pipeline`)
    with the queue keys rewritten to this shard's hash tag, sent through the
    shared cluster client."""

    def __init__(self, index: int, cluster: _Cluster, keys: _Keys) -> None:
        self.index = index
        self.label = f"shard {index}"
        self.health = Health(BACKOFF)
        self.room = Health(BACKOFF)  # as a Node's: down while its primary is full
        self._cluster = cluster
        self._keys = keys

    def __repr__(self) -> str:
        return f"ClusterShard({self.index}, down={self.health.is_down()})"

    @property
    def native_copy(self) -> bool:
        """Reserves may copy items natively (known after the ACL probe)."""
        return self._cluster.native_copy

    def key(self, key: str) -> str:
        """``key`` as this shard spells it."""
        return self._keys.of(key)[self.index]

    def _args(self, args: Sequence[Any]) -> tuple[Any, ...]:
        """A command with its queue keys in this shard's spelling."""
        name = str(args[0]).upper()
        if name in ("EVALSHA", "EVAL"):
            count = int(args[2])
            keys = self._keys.of_all(tuple(args[3 : 3 + count]))
            return (*args[:3], *(keys[self.index] if count else ()), *args[3 + count :])
        if name == "LMPOP":
            count = int(args[1])
            keys = self._keys.of_all(tuple(args[2 : 2 + count]))
            return (*args[:2], *keys[self.index], *args[2 + count :])
        if len(args) > 1 and isinstance(args[1], str) and name not in ("SCRIPT", "SCAN"):
            return (args[0], self.key(args[1]), *args[2:])
        return tuple(args)

    def _reply(self, args: Sequence[Any], reply: Any) -> Any:
        if str(args[0]).upper() == "LMPOP" and reply:
            source = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
            return [self._keys.back(source).encode(), reply[1]]
        return reply

    def execute(self, *args: Any) -> Any:
        """Run one command (its key routes it); translate redis-py errors into sergeant's."""
        sent = self._args(args)
        try:
            if self._cluster.wait is not None and command_writes(args[0]):
                reply = self._waited_one(sent)
            else:
                reply = self._cluster.client.execute_command(*sent)
        except _ERRORS as exc:
            raise self._cluster.translate(exc, self) from exc
        self.health.succeeded()
        return self._reply(args, reply)

    def script(self, script: scripts.Script, keys: Sequence[str], *args: Any) -> Any:
        """Run a Lua script on this shard's slot (by SHA; ``EVAL`` when the
        primary lacks it, which also caches it there)."""
        self._cluster.check_permissions(self)
        return self.run_script(script, self._keys.of_all(tuple(keys))[self.index], *args)

    def run_script(self, script: scripts.Script, keys: Sequence[str], *args: Any) -> Any:
        """:meth:`script` on keys already in this shard's spelling."""
        run = (
            self._waited_one
            if self._cluster.wait is not None and script_writes(script)
            else lambda command: self._cluster.client.execute_command(*command)
        )
        try:
            try:
                result = run(("EVALSHA", script.sha, len(keys), *keys, *args))
            except redis.exceptions.NoScriptError:
                result = run(("EVAL", script.source, len(keys), *keys, *args))
        except _ERRORS as exc:
            raise self._cluster.translate(exc, self) from exc
        self.health.succeeded()
        return result

    def script_later(
        self, script: scripts.Script, keys: Sequence[str], *args: Any
    ) -> Callable[[], Any]:
        """The script's call, made now (the cluster client has no replies in
        flight to read later); the returned function gives its reply."""
        result = self.script(script, keys, *args)
        return lambda: result

    def command_later(self, *args: Any) -> Callable[[], Any]:
        """The command, run now (nothing is sent ahead on a cluster); the
        returned function gives its reply."""
        result = self.execute(*args)
        return lambda: result

    def pipeline(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Send ``commands`` (all on this shard's slot) in one round trip, not
        a transaction; a failed command's result is its exception, translated
        (except ``NoScriptError``, left for the caller)."""
        self._cluster.check_permissions(self)
        if self._cluster.wait is not None and pipeline_writes(commands):
            try:
                results = self._cluster.waited(self, [self._args(c) for c in commands])
            except _ERRORS as exc:
                raise self._cluster.translate(exc, self) from exc
        else:
            pipe = self._cluster.client.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*self._args(command))
            try:
                results = pipe.execute(raise_on_error=False)
            except _ERRORS as exc:
                raise self._cluster.translate(exc, self) from exc
            finally:
                pipe.reset()
        self.health.succeeded()
        out: list[Any] = []
        for command, result in zip(commands, results, strict=True):
            if isinstance(result, redis.exceptions.NoScriptError):
                out.append(result)
            elif isinstance(result, _ERRORS):
                out.append(self._cluster.translate(result, self))
            else:
                out.append(self._reply(command, result))
        return out

    def _waited_one(self, command: Sequence[Any]) -> Any:
        """One write (in this shard's spelling) and ``WAIT`` (:meth:`_Cluster.waited`)."""
        result = self._cluster.waited(self, (command,))[0]
        if isinstance(result, Exception):
            raise result
        return result

    def close(self) -> None:
        """Nothing of its own: the connector closes the shared client."""


class ClusterConnector(RedisConnector):
    """The ``redis`` connector on a Redis Cluster; made by ``RedisConnector(cluster={...})``."""

    capabilities: ClassVar[frozenset[str]] = BASIC | {ACK_AND_RESERVE, PREFETCH, PEEK}
    # Sergeant 0.27.0 never ran on a cluster: nothing to migrate from.
    do_migrate_legacy = Connector.do_migrate_legacy

    def __init__(self, **params: Any) -> None:
        self.cluster_params = parse_cluster(params)
        self.node_params = ()
        self._cluster = _Cluster(self.cluster_params)
        try:
            count = self.cluster_params.shards or max(1, self._cluster.primaries())
        except BaseException:
            self._cluster.client.close()
            raise
        keys = _Keys(count)
        self.shards = [ClusterShard(index, self._cluster, keys) for index in range(count)]
        # The connector's node calls are what a shard offers (duck-typed, not a Node).
        self.nodes = cast(list[Node], self.shards)
        self._names = tuple(f"shard-{index}" for index in range(count))
        self._turns = Rotation(self.nodes)
        self._queues = {}

    def __repr__(self) -> str:
        nodes = ", ".join(node.address for node in self.cluster_params.nodes)
        return f"RedisConnector(cluster=[{nodes}], shards={len(self.shards)})"

    def do_stats(self, queue_name: str) -> list[NodeStats]:
        keys = self._queue(queue_name).keys
        answers = self._gather("queue_stats", lambda node: node.script(scripts.STATS, keys))
        out = []
        for node, (ready, delayed, in_flight) in answers:
            shard = cast(ClusterShard, node)
            primary = self._cluster.primary_of(shard.key(keys[0]))
            out.append(
                NodeStats(f"{shard.label} @ {primary}", int(ready), int(delayed), int(in_flight))
            )
        return out

    def do_queue_names(self) -> set[str]:
        """Queues with items in any shard: a cursor-paged ``SCAN`` of
        ``sergeant:queue:*`` on every primary, names read off the keys that
        hold items."""
        client = self._cluster.client
        names: set[str] = set()
        try:
            for key in client.scan_iter(
                match=QUEUE_PREFIX + "*", count=1000, target_nodes=client.PRIMARIES
            ):
                name = _queue_name(bytes(key))
                if name is not None:
                    names.add(name)
        except _ERRORS as exc:
            raise self._cluster.translate(exc, None) from exc
        return names

    def close(self) -> None:
        self._cluster.client.close()


def _slot_key(command: Sequence[Any]) -> Any:
    """The key that routes ``command`` (a script's first key, else its first argument)."""
    if str(command[0]).upper() in ("EVALSHA", "EVAL") and int(command[2]):
        return command[3]
    return command[1]


_ITEM_PARTS = tuple(part.encode() for part in _PARTS[:6])


def _queue_name(key: bytes) -> str | None:
    """The queue a shard key of items belongs to: ``sergeant:queue:{<name>#<j>}:<part>``."""
    body = key[len(QUEUE_PREFIX) :]
    if not body.startswith(b"{"):
        return None
    for part in _ITEM_PARTS:
        if body.endswith(b"}" + part):
            tag = body[1 : -len(part) - 1]
            name, hash_sign, _ = tag.rpartition(b"#")
            return name.decode("utf-8", "replace") if hash_sign else None
    return None
