"""One redis-server as the connector sees it: connections, scripts, and whether it is up.

Each thread talks to the server over its own redis-py ``Connection`` (made with
the pool's connection kwargs, so auth, database, TLS and timeouts are as
configured), re-created after a fork. Commands go straight to it
(``send_command``/``read_response``): no pool checkout, no per-call retry
wrapper. A connection idle for a while is checked before a call goes out on it
and replaced if its server closed it (a restart leaves dead sockets). A call
that fails while being sent is sent again once on a fresh socket; one that fails
after it was sent (the reply lost, or a timeout) never is: the server may have
run it (a pop would take more items, a push store twice, a ``SET NX`` report its
own write as someone else's), and a node that stalls is better skipped a while.

A node that fails to answer (refused, reset, timed out, still loading its data)
is marked down and skipped by pushes, pops and reserves for a back-off
(:data:`BACKOFF`: doubling from 0.25 to 5 seconds, see :mod:`sergeant.nodes`);
the first call that reaches it again marks it up. Errors name the node by ``host:port``
and its index in ``nodes``, never by its credentials.

A Sentinel deployment (``params={'sentinel': ...}``) is one node whose
connections come from redis-py's sentinel-managed pool
(:mod:`sergeant_redis.sentinel`): each connects to the primary the sentinels
name at that moment, so the retry after a failover reaches the new primary.
It is labelled ``<service> via sentinel <host:port,...> (sentinel)``.

With ``min_replicas``, writes are followed by ``WAIT`` in the same round trip
(:mod:`sergeant_redis.replication`).
"""

from __future__ import annotations

import collections
import functools
import importlib
import os
import secrets
import select
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar, cast

import redis
import redis.backoff
import redis.exceptions
import redis.retry
import redis.sentinel
from sergeant.errors import (
    AuthenticationError,
    ConfigError,
    ConnectorUnavailableError,
    StorageError,
)
from sergeant.nodes import Backoff, Health

from sergeant_redis.params import NodeParams, SentinelNodeParams
from sergeant_redis.permissions import (
    PROBE,
    PROBE_KEY_PREFIX,
    READ_ONLY,
    check_probe,
    read_probe,
)
from sergeant_redis.replication import (
    ReplicationError,
    command_writes,
    pipeline_writes,
    script_writes,
    wait_command,
)
from sergeant_redis.scripts import Script
from sergeant_redis.sentinel import sentinel_pool

__all__ = ["BACKOFF", "Node", "NodeFullError", "NodeUnavailableError", "Roster", "full"]

#: Idle seconds after which a connection is checked before use (see Node._drop_if_stale).
IDLE_CHECK = 0.05

#: How long a node that failed is skipped.
BACKOFF = Backoff(first=0.25, limit=5.0)
#: Pause before the one retry after a connection error.
RETRY_PAUSE = 0.02

T = TypeVar("T")
#: Connection errors that a fresh socket cannot cure.
_NOT_RETRIED = (redis.exceptions.AuthenticationError, redis.exceptions.AuthorizationError)


class NodeUnavailableError(ConnectorUnavailableError):
    """One node could not be reached; :attr:`node` says which."""

    def __init__(self, node: Node, reason: str) -> None:
        self.node = node
        self.reason = reason
        super().__init__(f"redis node {node.label} is unreachable: {reason}")


#: The key each node's probe writes its connector's mark and its index to, and
#: how long it lives (ms).
LISTED_KEY = "sergeant:listed"
LISTED_MS = 3_600_000


class Roster(NamedTuple):
    """A connector's nodes, for telling one server listed twice: ``mark`` names
    the connector's key (random), ``nodes`` are its entries."""

    mark: str
    nodes: Sequence[NodeParams]


class NodeFullError(StorageError):
    """A node at ``maxmemory`` (``noeviction``) refused a write that needs memory:
    pushes try the other nodes (see :class:`Node`'s ``room``)."""


class Connection(Protocol):
    """What the node uses of a redis-py connection (its methods are untyped)."""

    def send_command(self, *args: Any, check_health: bool = True) -> None: ...
    def send_packed_command(self, command: Any, check_health: bool = True) -> None: ...
    def pack_commands(self, commands: Sequence[Sequence[Any]]) -> Any: ...
    def read_response(self) -> Any: ...
    def disconnect(self) -> None: ...


def _pool_and_sentinel(
    params: NodeParams,
) -> tuple[redis.ConnectionPool, redis.sentinel.Sentinel | None]:
    """The pool whose connection class and kwargs every connection of the node
    uses, and the sentinel client behind it for a Sentinel deployment."""
    # Connecting (and the periodic health-check PING) retries once on a connection error.
    retry = redis.retry.Retry(
        redis.backoff.ExponentialBackoff(cap=0.05, base=0.01),
        retries=1,
        supported_errors=(redis.exceptions.ConnectionError,),
    )
    options: dict[str, Any] = {
        "host": params.host,
        "port": params.port,
        "db": params.database,
        **params.driver_options(),
        "retry": retry,
        "health_check_interval": 30,
    }
    if params.host.startswith("/"):
        options["unix_socket_path"] = params.host
    if isinstance(params, SentinelNodeParams):
        return sentinel_pool(params, options)
    return redis.Redis(**options).connection_pool, None


def _c_packer() -> Callable[[tuple[Any, ...]], bytes] | None:
    """hiredis's command packer, when redis-py's hiredis extra is installed."""
    try:
        module = importlib.import_module("hiredis")
    except ImportError:
        return None
    return cast(Callable[[tuple[Any, ...]], bytes], module.pack_command)


_pack = _c_packer()


def _send(conn: Connection, args: Sequence[Any], check_health: bool = True) -> None:
    if _pack is not None:
        # redis-py's own packer walks every argument in Python first.
        conn.send_packed_command([_pack(tuple(args))], check_health=check_health)
    else:
        conn.send_command(*args, check_health=check_health)


class ReplyLostError(redis.exceptions.ConnectionError):
    """The connection failed after the call was sent: the server may have run it,
    so it is not sent again (a pop would take more items, a push store twice)."""


def _read(conn: Connection) -> Any:
    try:
        return conn.read_response()
    except ReplyLostError:
        raise
    except redis.exceptions.ConnectionError as exc:
        # A refusal the driver turned into a connection error (a demoted primary's
        # READONLY, under Sentinel) did not run: it may be sent again.
        if isinstance(exc, _NOT_RETRIED) or isinstance(
            exc.__context__, redis.exceptions.ResponseError
        ):
            raise
        raise ReplyLostError(f"{_reason(exc)}, after the call was sent (it may have run)") from exc


def _command(conn: Connection, args: Sequence[Any]) -> Any:
    _send(conn, args)
    return _read(conn)


def _pipeline(conn: Connection, commands: Sequence[Sequence[Any]]) -> list[Any]:
    if _pack is not None:
        conn.send_packed_command([b"".join([_pack(tuple(command)) for command in commands])])
    else:
        conn.send_packed_command(conn.pack_commands(commands))
    results: list[Any] = []
    for _ in commands:
        try:
            results.append(_read(conn))
        except redis.exceptions.ResponseError as exc:
            results.append(exc)
    return results


def _stale(conn: Connection) -> bool:
    """The idle connection's server closed it (a restart): EOF, a reset or stray
    bytes wait on the socket. Unknown (False) for TLS, whose records cannot be
    peeked at."""
    sock = getattr(conn, "_sock", None)
    if sock is None or isinstance(sock, ssl.SSLSocket):
        return False
    # poll, not recv(MSG_DONTWAIT): a socket with a timeout waits for it either way.
    try:
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        return bool(poller.poll(0))  # readable while idle: EOF, a reset or stray bytes
    except (OSError, ValueError):
        return True


class Node:
    """The connections to one server, with its health."""

    def __init__(self, index: int, params: NodeParams, roster: Roster | None = None) -> None:
        self.index = index
        self.params = params
        self._roster = roster
        #: '' once the probe found this node's keyspace listed once; else why not
        self._listed_twice: str | None = None
        #: How messages name the node's config: ``nodes[i]``, or ``sentinel``.
        self.where = params.where.format(index)
        self.label = f"{params.address} ({self.where})"
        self.pool, self._sentinel = _pool_and_sentinel(params)
        #: ``WAIT`` after writes, when ``min_replicas`` asks for it.
        self._wait = (
            wait_command(params.min_replicas, params.min_replicas_timeout)
            if params.min_replicas
            else None
        )
        self._new_connection = cast(
            Callable[[], Connection],
            functools.partial(self.pool.connection_class, **self.pool.connection_kwargs),
        )
        self._local = threading.local()
        self._opened: weakref.WeakSet[Connection] = weakref.WeakSet()
        self._opened_guard = threading.Lock()
        self.health = Health(BACKOFF)
        #: Down while the server said it is full: pushes try it after the others.
        self.room = Health(BACKOFF)
        self._permitted = False
        #: Reserves may copy items natively (known after the ACL probe).
        self.native_copy = False
        self._scripts: set[str] = set()  # SHAs the server ran for this node

    def __repr__(self) -> str:
        return f"Node({self.label}, down={self.health.is_down()})"

    def execute(self, *args: Any) -> Any:
        """Run one command; translate redis-py errors into sergeant's."""
        if self._wait is not None and command_writes(args[0]):
            return self._call(self._waited, args)
        return self._call(_command, args)

    def script(self, script: Script, keys: Sequence[str], *args: Any) -> Any:
        """Run a Lua script by SHA (one round trip), loading it first if the server lacks it.

        The node's first script call is preceded by a check that the server's
        ACL lets this user run every command the scripts use (see
        :mod:`sergeant_redis.permissions`)."""
        if not self._permitted:
            self._check_permissions()
        return self._script(script, keys, *args)

    def _check_permissions(self) -> None:
        token = secrets.token_hex(8)
        keys = [f"{PROBE_KEY_PREFIX}{token}:{kind}" for kind in ("s", "l", "h", "z", "t")]
        probe = read_probe(self._script(PROBE, keys))
        check_probe(
            probe,
            f"redis node {self.label}",
            lambda names: self._refused(f"run {names}, which sergeant's scripts need", _GRANT),
        )
        self._check_listed_once()
        self.native_copy = probe.native_copy
        self._permitted = True

    def _check_listed_once(self) -> None:
        """Refuse a server and database that another node of the connector
        reached under another spelling (``localhost`` and ``127.0.0.1``): it
        would count twice. Each node writes ``<connector mark>:<index>`` to one
        key of the server and reads what it replaces; its own connector's mark
        with another index means the same keyspace. (Another connector writing
        in between can hide a duplicate, never make one up.)"""
        if self._roster is None:
            return
        if self._listed_twice is None:  # once found, the key holds our own index
            self._listed_twice = self._other_listing(self._roster)
        if self._listed_twice:
            fix = f"{self._listed_twice} under another name; list each server once"
            raise ConfigError(self.where, None, fix, shown=repr(self.params.address))

    def _other_listing(self, roster: Roster) -> str:
        """The other entry of ``roster`` whose keyspace this node reached too, or ''."""
        mark = roster.mark
        command = ("SET", LISTED_KEY, f"{mark}:{self.index}", "GET", "PX", LISTED_MS)
        try:
            before = self._call(_command, command)
        except NodeFullError:  # a full server refuses the write: unchecked, it can still drain
            return ""
        found = before.decode("ascii", "replace") if isinstance(before, bytes) else ""
        owner, _, index = found.partition(":")
        if owner != mark or not index.isdigit() or int(index) == self.index:
            return ""
        first = int(index)
        address = roster.nodes[first].address if first < len(roster.nodes) else "?"
        return f"it is the redis-server and database of nodes[{first}] ({address})"

    def _script(self, script: Script, keys: Sequence[str], *args: Any) -> Any:
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        run = self._waited if self._wait is not None and script_writes(script) else _command
        try:
            result = self._call(run, command)
        except StorageError as exc:
            if not isinstance(exc.__cause__, redis.exceptions.NoScriptError):
                raise
            self.execute("SCRIPT", "LOAD", script.source)
            result = self._call(run, command)
        self._scripts.add(script.sha)
        return result

    def script_later(self, script: Script, keys: Sequence[str], *args: Any) -> Callable[[], Any]:
        """Send a script call now and return the function that reads its reply.

        The caller works while the server runs the script; several calls may be
        on their way at once (their replies come back in order). Any other call
        this thread makes on the node meanwhile reads the pending replies first
        and keeps them for their functions. A script's first call on the node,
        and a call that cannot be sent, are made the usual way at once (retry,
        script load; errors raised here). Should the server lose its scripts
        later (``SCRIPT FLUSH``), a call sent ahead is made again when its reply
        says so, which may put it after calls sent later."""
        if script.sha not in self._scripts:
            # Its first call is made the usual way, which loads it: a script the
            # server lacks would run when its reply is read, after later calls.
            result = self.script(script, keys, *args)
            return lambda: result
        conn = self._connection()
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            # No health-check PING while replies are pending: it would read one of them.
            _send(conn, command, check_health=not self._local.pending)
        except redis.exceptions.RedisError as exc:
            # redis-py dropped the socket: replies sent for before it can never be read.
            self._lose_pending(self._translate(exc))
            result = self._script(script, keys, *args)
            return lambda: result
        reply = _Reply(self, conn, functools.partial(self._script, script, keys, *args))
        self._local.pending.append(reply)
        return reply.result

    def command_later(self, *args: Any) -> Callable[[], Any]:
        """Send one command now, behind any sent ahead, and return the function
        that reads its reply (as :meth:`script_later`; a command that cannot
        be sent is made the usual way at once)."""
        conn = self._connection()
        try:
            _send(conn, args, check_health=not self._local.pending)
        except redis.exceptions.RedisError as exc:
            self._lose_pending(self._translate(exc))
            result = self.execute(*args)
            return lambda: result
        reply = _Reply(self, conn, functools.partial(self.execute, *args))
        self._local.pending.append(reply)
        return reply.result

    def _read_pending(self, upto: _Reply | None = None) -> None:
        """Read this thread's pending replies in order (up to ``upto``, or all)."""
        pending: collections.deque[_Reply] = self._local.pending
        while pending:
            reply = pending.popleft()
            lost = reply.take()
            if lost is not None:
                for later in pending:
                    later.lost(lost)
                pending.clear()
            if reply is upto:
                return

    def _lose_pending(self, error: StorageError) -> None:
        """Fail every pending reply of this thread with ``error`` (its connection is gone)."""
        pending: collections.deque[_Reply] = self._local.pending
        for reply in pending:
            reply.lost(error)
        pending.clear()

    def pipeline(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Send ``commands`` in one round trip (not a transaction); a failed
        command's result is its exception, already translated (except
        ``NoScriptError``, left for the caller to load the script)."""
        if not self._permitted:
            self._check_permissions()
        if self._wait is not None and pipeline_writes(commands):
            results = self._call(self._waited_pipeline, commands)
        else:
            results = self._call(_pipeline, commands)
        return [
            r
            if not isinstance(r, redis.exceptions.RedisError)
            or isinstance(r, redis.exceptions.NoScriptError)
            else self._translate(r)
            for r in results
        ]

    def close(self) -> None:
        """Drop every connection, of every thread (a later call reconnects)."""
        with self._opened_guard:
            opened = list(self._opened)
        for conn in opened:
            conn.disconnect()
        self.pool.disconnect()
        if self._sentinel is not None:
            self._sentinel.close()

    def _waited(self, conn: Connection, args: Sequence[Any]) -> Any:
        """Run one command and ``WAIT`` in one round trip (:mod:`~sergeant_redis.replication`)."""
        result = self._waited_pipeline(conn, (args,))[0]
        if isinstance(result, redis.exceptions.RedisError):
            raise result
        return result

    def _waited_pipeline(self, conn: Connection, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """:func:`_pipeline` and ``WAIT``; raises ReplicationError when too few replicas acked."""
        assert self._wait is not None
        results = _pipeline(conn, (*commands, self._wait))
        acknowledged = results.pop()
        if isinstance(acknowledged, redis.exceptions.RedisError):
            raise acknowledged
        if int(acknowledged) < self.params.min_replicas:
            raise ReplicationError(
                self.label,
                int(acknowledged),
                self.params.min_replicas,
                self.params.min_replicas_timeout,
            )
        return results

    def _drop_if_stale(self, conn: Connection) -> None:
        """A connection idle for :data:`IDLE_CHECK` is checked before a call is
        sent on it, and dropped if its server closed it (the call then goes on a
        new one): a call that fails after it was sent is not sent again."""
        local = self._local
        now = time.monotonic()
        if now - local.used > IDLE_CHECK and _stale(conn):
            conn.disconnect()
        local.used = now

    def _connection(self) -> Connection:
        """This thread's connection; a new one in a new thread or process."""
        local = self._local
        pid = os.getpid()
        conn: Connection | None = getattr(local, "conn", None)
        if conn is None or local.pid != pid:
            conn = self._new_connection()
            local.conn, local.pid, local.pending = conn, pid, collections.deque()
            local.used = time.monotonic()
            with self._opened_guard:
                self._opened.add(conn)
        return conn

    def _call(self, run: Callable[[Connection, T], Any], arg: T) -> Any:
        conn = self._connection()
        if self._local.pending:
            self._read_pending()
        else:
            self._drop_if_stale(conn)
        try:
            try:
                result = run(conn, arg)
            except redis.exceptions.ConnectionError as exc:
                if isinstance(exc, (*_NOT_RETRIED, ReplyLostError)):
                    raise
                conn.disconnect()  # it failed before the call went out: send it again
                time.sleep(RETRY_PAUSE)
                result = run(conn, arg)
        except redis.exceptions.RedisError as exc:
            longest = _longest(arg)
            # A value over proto-max-bulk-len: the server answers that and drops the
            # connection, often before the value is written (a reset, not the node down).
            if "invalid bulk length" in str(exc) or (
                "while writing" in str(exc) and longest > _MIN_BULK_LIMIT
            ):
                conn.disconnect()
                raise StorageError(
                    f"redis node {self.label} dropped a call carrying a value of {longest:,} "
                    f"bytes ({_reason(exc)}), as it does with one longer than its "
                    "proto-max-bulk-len; store big payloads elsewhere and push a reference, "
                    "or raise the server's proto-max-bulk-len"
                ) from exc
            raise self._translate(exc) from exc
        self.health.succeeded()
        return result

    def _translate(self, exc: redis.exceptions.RedisError) -> StorageError:
        if isinstance(exc, redis.exceptions.NoPermissionError) and "keys" in str(exc):
            return self._refused(
                f"use sergeant's keys ({_reason(exc)})", "allow the key pattern ~sergeant:*"
            )
        if isinstance(exc, redis.exceptions.NoPermissionError) or _NO_PERMISSION in str(exc):
            return self._refused(f"run a command sergeant needs ({_reason(exc)})", _GRANT)
        if isinstance(exc, redis.exceptions.AuthenticationError) or (
            isinstance(exc, redis.exceptions.ResponseError)
            and str(exc).startswith(("WRONGPASS", "NOAUTH"))
        ):
            return AuthenticationError(
                f"redis node {self.label} refused the credentials; check "
                f"{self.where}.username and {self.where}.password"
            )
        if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
            self.health.failed()
            reason = _reason(exc)
            if "certificate verify failed" in reason.lower():
                reason += (
                    f"; check {self.where}.ssl_ca_certs (the CA that signed the "
                    f"server's certificate) and {self.where}.ssl_check_hostname"
                )
            elif self.params.ssl and ("Timeout connecting" in reason or "[SSL" in reason):
                reason += (
                    f"; {self.where}.ssl is on: if the server speaks plain text on that port, "
                    "the TLS handshake cannot complete, so drop ssl (a redis:// url) or give "
                    "its tls-port"
                )
            return NodeUnavailableError(self, reason)
        if isinstance(exc, redis.exceptions.ReadOnlyError):
            return StorageError(f"redis node {self.label} {READ_ONLY}")
        if "DB index is out of range" in str(exc):
            return StorageError(
                f"redis node {self.label} has no database {self.params.database} "
                f"({self.where}.database): its 'databases' setting allows 0 up to one "
                "less than its value (16 by default); pick one in that range"
            )
        if isinstance(exc, redis.exceptions.OutOfMemoryError):
            return NodeFullError(f"redis node {self.label} {full(exc)}")
        if isinstance(exc, redis.exceptions.InvalidResponse):
            return StorageError(
                f"redis node {self.label} does not answer in the Redis protocol ({_reason(exc)}); "
                f"check that {self.where}.host and {self.where}.port name a Redis server"
            )
        return StorageError(f"redis node {self.label} failed: {_reason(exc)}")

    def _refused(self, what: str, fix: str) -> StorageError:
        """The server's ACL refused this node's user: say what, and the fix."""
        return StorageError(
            f"redis node {self.label}: the ACL user of {self.where}.username may not {what}; {fix}"
        )


class _Reply:
    """The reply to a command :meth:`Node.script_later` sent, read once, in
    order with the others: by :meth:`result`, or earlier by the thread's next
    call on the node."""

    def __init__(self, node: Node, conn: Connection, again: Callable[[], Any]) -> None:
        self._node = node
        self._conn = conn
        self._again = again  # the call made the usual way, when the server lacked the script
        self._read = False
        self._value: Any = None
        self._error: StorageError | None = None

    def take(self) -> StorageError | None:
        """Read the reply off the connection (the caller keeps the order); the
        error when the connection was lost, so later replies cannot come."""
        self._read = True
        node = self._node
        try:
            try:
                self._value = self._conn.read_response()
            except redis.exceptions.NoScriptError:
                self._value = self._again()
        except StorageError as exc:
            self._error = exc
        except redis.exceptions.RedisError as exc:
            # Never retried: the script may have run (a reserve would be made twice).
            self._error = node._translate(exc)
            if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
                self._conn.disconnect()
                return self._error
        except (AttributeError, TypeError, OSError, ValueError) as exc:
            # redis-py raises these reading a connection it already dropped (its
            # parser's buffer is None): the reply is lost, like a reset socket.
            self._conn.disconnect()
            lost = redis.exceptions.ConnectionError(f"connection lost ({type(exc).__name__})")
            self._error = node._translate(lost)
            return self._error
        else:
            node.health.succeeded()
        return None

    def lost(self, error: StorageError) -> None:
        """The connection went before this reply came: fail with ``error``."""
        self._read = True
        self._error = error

    def result(self) -> Any:
        """The reply; raises the call's error (StorageError) if it failed."""
        if not self._read:
            self._node._read_pending(upto=self)
        if self._error is not None:
            raise self._error
        return self._value


_GRANT = "grant the commands listed under 'A least-privilege ACL user' in sergeant-redis's README"
#: How Redis words a refusal by the ACL inside a script (outside one: ``NOPERM``).
_NO_PERMISSION = "can't run this command"


def full(exc: BaseException) -> str:
    """What a server at ``maxmemory`` (with ``noeviction``) refused, and what to do."""
    return (
        f"is full and refuses writes that need memory ({_reason(exc)}); workers can still "
        "take, ack and release tasks, so let them drain the queues, or raise the server's "
        "maxmemory"
    )


#: The lowest ``proto-max-bulk-len`` redis-server accepts.
_MIN_BULK_LIMIT = 2**20


def _longest(arg: Any) -> int:
    """The length of the longest bytes argument of a command, or of a pipeline's commands."""
    values = [v for part in arg for v in (part if isinstance(part, tuple) else (part,))]
    return max((len(v) for v in values if isinstance(v, bytes)), default=0)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]
