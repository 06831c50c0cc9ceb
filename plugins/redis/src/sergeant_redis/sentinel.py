"""The connection pool of a Redis Sentinel deployment (``params={'sentinel': {...}}``).

redis-py's :class:`redis.sentinel.SentinelConnectionPool` makes
``SentinelManagedConnection`` objects, which ask the sentinels for the
primary's address each time they connect, and turn a ``READONLY`` reply (the
server they talk to was demoted to a replica) into a connection error. redis-py
asks the sentinels when its pool hands a connection out; the node's connections
are never checked out of the pool, so :class:`PrimaryConnection` asks them on
whatever path connects the socket (the first command, a reconnect). So
:class:`~sergeant_redis.node.Node`, which retries a connection error once on a
fresh socket and otherwise reports the node unavailable, reaches the new
primary on its own once the sentinels have promoted it: during the failover
window calls raise :class:`~sergeant.errors.ConnectorUnavailableError` (the
sentinels still name the dead primary, or none), after it they work again on
the same connector object.

The sentinels are asked with the ``sentinel_username``/``sentinel_password``
credentials; the primary with ``username``/``password``. TLS options apply to
both.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.connection
import redis.sentinel

from sergeant_redis.params import SentinelNodeParams

__all__ = ["PrimaryConnection", "PrimarySSLConnection", "sentinel_pool"]


class PrimaryConnection(redis.sentinel.SentinelManagedConnection):
    """A connection to the primary the sentinels name when it connects."""

    def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        if not self._sock:
            self.host, self.port = self.connection_pool.get_master_address()
        super().connect_check_health(check_health, retry_socket_connect)


class PrimarySSLConnection(PrimaryConnection, redis.connection.SSLConnection):
    """:class:`PrimaryConnection` over TLS."""


def sentinel_pool(
    params: SentinelNodeParams, options: dict[str, Any]
) -> tuple[redis.ConnectionPool, redis.sentinel.Sentinel]:
    """The pool whose connections reach the primary the sentinels name, and the
    sentinel client it asks (closed with the node).

    :param options: the data nodes' connection options, as for a plain node
        (``host`` and ``port`` are left out: the sentinels give them).
    """
    options = {k: v for k, v in options.items() if k not in ("host", "port", "ssl")}
    options["connection_class"] = PrimarySSLConnection if params.ssl else PrimaryConnection
    asking: dict[str, Any] = {
        "username": params.sentinel_username,
        "password": params.sentinel_password,
        "socket_timeout": params.socket_timeout,
        "socket_connect_timeout": params.socket_connect_timeout,
        "socket_keepalive": True,
        "client_name": "sergeant-sentinel",
    }
    if params.ssl:
        asking.update(
            {key: value for key, value in options.items() if key.startswith("ssl_")},
            ssl=True,
        )
    # Typed as Any: redis-py annotates these in some releases and not in others.
    sentinel_class: Any = redis.sentinel.Sentinel
    manager = sentinel_class(list(params.sentinels), sentinel_kwargs=asking)
    client = manager.master_for(params.service_name, **options)
    return client.connection_pool, manager
