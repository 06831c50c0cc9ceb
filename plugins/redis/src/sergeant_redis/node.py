"""One redis-server as the connector sees it: a client, scripts, and whether it is up.

A node that fails to answer (refused, reset, timed out, still loading its data)
is marked down and skipped by pushes, pops and reserves for a back-off that
doubles from :data:`FIRST_BACKOFF` to :data:`MAX_BACKOFF` seconds; the first
call that reaches it again marks it up. Errors name the node by ``host:port``
and its index in ``nodes``, never by its credentials.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis
import redis.backoff
import redis.exceptions
import redis.retry
from sergeant.errors import AuthenticationError, ConnectorUnavailableError, StorageError

from sergeant_redis.params import NodeParams
from sergeant_redis.scripts import Script

__all__ = ["FIRST_BACKOFF", "MAX_BACKOFF", "Node", "NodeUnavailableError"]

FIRST_BACKOFF = 0.25
MAX_BACKOFF = 5.0


class NodeUnavailableError(ConnectorUnavailableError):
    """One node could not be reached; :attr:`node` says which."""

    def __init__(self, node: Node, reason: str) -> None:
        self.node = node
        self.reason = reason
        super().__init__(f"redis node {node.label} is unreachable: {reason}")


def _client(params: NodeParams) -> redis.Redis:
    # One quick retry on a fresh connection covers pooled sockets that died with a
    # server restart. Timeouts are not retried: the command may have run (a push
    # would be stored twice), and a node that stalls is better skipped for a while.
    retry = redis.retry.Retry(
        redis.backoff.ExponentialBackoff(cap=0.05, base=0.01),
        retries=1,
        supported_errors=(redis.exceptions.ConnectionError,),
    )
    options: dict[str, Any] = {
        "host": params.host,
        "port": params.port,
        "db": params.database,
        "username": params.username,
        "password": params.password,
        "socket_timeout": params.socket_timeout,
        "socket_connect_timeout": params.socket_connect_timeout,
        "socket_keepalive": True,
        "retry": retry,
        "health_check_interval": 30,
        "client_name": "sergeant",
    }
    if params.ssl:
        options.update(
            ssl=True,
            ssl_ca_certs=params.ssl_ca_certs,
            ssl_certfile=params.ssl_certfile,
            ssl_keyfile=params.ssl_keyfile,
            ssl_password=params.ssl_password,
            ssl_cert_reqs=params.ssl_cert_reqs,
            ssl_check_hostname=params.ssl_check_hostname,
        )
    return redis.Redis(**options)


class Node:
    """A client for one server, with its health."""

    def __init__(self, index: int, params: NodeParams) -> None:
        self.index = index
        self.params = params
        self.label = f"{params.address} (nodes[{index}])"
        self.client = _client(params)
        self._execute: Callable[..., Any] = self.client.execute_command
        self.down_until = 0.0
        self.failures = 0

    def __repr__(self) -> str:
        return f"Node({self.label}, down={self.is_down()})"

    def is_down(self, now: float | None = None) -> bool:
        """True while the node sits out its back-off."""
        return self.down_until > (time.monotonic() if now is None else now)

    def execute(self, *args: Any) -> Any:
        """Run one command; translate redis-py errors into sergeant's."""
        try:
            result = self._execute(*args)
        except redis.exceptions.RedisError as exc:
            raise self._translate(exc) from exc
        if self.failures:
            self.failures, self.down_until = 0, 0.0
        return result

    def script(self, script: Script, keys: tuple[str, ...], *args: Any) -> Any:
        """Run a Lua script by SHA (one round trip), loading it first if the server lacks it."""
        try:
            return self.execute("EVALSHA", script.sha, len(keys), *keys, *args)
        except StorageError as exc:
            if not isinstance(exc.__cause__, redis.exceptions.NoScriptError):
                raise
        self.execute("SCRIPT", "LOAD", script.source)
        return self.execute("EVALSHA", script.sha, len(keys), *keys, *args)

    def pipeline(self, *commands: tuple[Any, ...]) -> list[Any]:
        """Send ``commands`` in one round trip (not a transaction); a failed
        command's result is its exception, already translated."""
        pipe = self.client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)  # type: ignore[no-untyped-call]
        try:
            results: list[Any] = pipe.execute(raise_on_error=False)
        except redis.exceptions.RedisError as exc:
            raise self._translate(exc) from exc
        finally:
            pipe.reset()
        if self.failures:
            self.failures, self.down_until = 0, 0.0
        return [
            r
            if not isinstance(r, redis.exceptions.RedisError)
            or isinstance(r, redis.exceptions.NoScriptError)
            else self._translate(r)
            for r in results
        ]

    def close(self) -> None:
        """Drop every pooled connection (a later call reconnects)."""
        self.client.close()
        self.client.connection_pool.disconnect()

    def _translate(self, exc: redis.exceptions.RedisError) -> StorageError:
        if isinstance(exc, redis.exceptions.AuthenticationError) or (
            isinstance(exc, redis.exceptions.ResponseError)
            and str(exc).startswith(("WRONGPASS", "NOAUTH", "NOPERM"))
        ):
            return AuthenticationError(
                f"redis node {self.label} refused the credentials; check "
                f"nodes[{self.index}].username and nodes[{self.index}].password"
            )
        if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
            self._mark_down()
            return NodeUnavailableError(self, _reason(exc))
        return StorageError(f"redis node {self.label} failed: {_reason(exc)}")

    def _mark_down(self) -> None:
        self.failures = min(self.failures + 1, 32)
        backoff = min(FIRST_BACKOFF * 2 ** (self.failures - 1), MAX_BACKOFF)
        self.down_until = time.monotonic() + backoff


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]
