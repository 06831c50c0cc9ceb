"""The ``cluster`` param of the ``redis`` connector: a Redis Cluster, validated at construction.

::

    params={'cluster': {
        'nodes': [{'host': '10.0.0.1', 'port': 7000}, {'host': '10.0.0.2', 'port': 7000}],
        'password': None,
    }}

``nodes`` are the startup nodes: any reachable member is enough, the client
learns the rest (and every later change of the slot map) from the cluster
itself. The credentials, TLS options and timeouts are the cluster's, shared by
every member: ``password``, ``username``, ``ssl``, ``ssl_ca_certs``,
``ssl_certfile``, ``ssl_keyfile``, ``ssl_password``, ``ssl_cert_reqs``,
``ssl_check_hostname``, ``socket_timeout``, ``socket_connect_timeout``, with
the meaning they have for a node (:mod:`sergeant_redis.params`). ``shards``
is how many shards each queue is split into (see
:mod:`sergeant_redis.cluster`); ``None`` means the number of primaries serving
slots when the connector connects. ``min_replicas`` and
``min_replicas_timeout`` mean what they mean for a node
(:mod:`sergeant_redis.replication`): each write waits, on the primary that
owns its slot, for that many of that primary's replicas.

A bad value fails with :class:`~sergeant.errors.ConfigError` naming the field
as ``cluster.nodes[1].port``, ``cluster.shards``...; passwords are never shown.
Importing this module does not import the ``redis`` driver.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from sergeant.errors import ConfigError
from sergeant.validation import (
    build_params,
    in_range,
    non_empty_str,
    positive_number,
)

from sergeant_redis.params import ConnectionOptions, _Shown, non_empty_list

__all__ = ["MAX_SHARDS", "ClusterNode", "ClusterParams", "check_cluster", "parse_cluster"]

#: More shards than this would spread a queue thinner than any real cluster's primaries.
MAX_SHARDS = 1024
_EXAMPLE = "{'nodes': [{'host': '10.0.0.1', 'port': 7000}], 'password': None}"


@attrs.frozen
class ClusterNode:
    """One startup node of the cluster."""

    host: str = attrs.field(validator=non_empty_str)
    port: int = attrs.field(validator=in_range(1, 65535))

    @property
    def address(self) -> str:
        """``host:port`` (never with credentials)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _shards(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SHARDS:
        raise ConfigError(
            "cluster.shards",
            value,
            f"use a whole number from 1 to {MAX_SHARDS}, or None for one shard per primary",
        )


@attrs.frozen
class ClusterParams(ConnectionOptions):
    """Everything ``cluster`` takes; only ``nodes`` is required."""

    nodes: Sequence[Any] = attrs.field(
        validator=non_empty_list(
            "cluster.nodes",
            "pass a non-empty list of startup nodes such as [{'host': '10.0.0.1', 'port': 7000}]",
        )
    )
    #: Shards per queue; None: the number of primaries at connect time.
    shards: int | None = attrs.field(default=None, validator=_shards)
    #: Replicas that must have each write (``WAIT``, :mod:`sergeant_redis.replication`); 0: none.
    min_replicas: int = attrs.field(default=0, validator=in_range(0, 1000))
    #: Seconds a write waits for ``min_replicas`` replicas.
    min_replicas_timeout: float = attrs.field(default=1.0, validator=positive_number)

    @property
    def startup(self) -> tuple[ClusterNode, ...]:
        """``nodes`` as parsed (:func:`parse_cluster` has checked every entry)."""
        return tuple(_node(index, entry) for index, entry in enumerate(self.nodes))


def _prefixed(error: ConfigError, where: str) -> ConfigError:
    """The same error with a bare field named ``where.field`` (the value as already shown)."""
    if error.field.startswith(where):
        return error
    message = str(error)
    head, tail = f"invalid {error.field}: ", f"; {error.fix}"
    shown = message[len(head) : len(message) - len(tail)]
    return ConfigError(f"{where}.{error.field}", _Shown(shown), error.fix)


def _node(index: int, entry: Any) -> ClusterNode:
    where = f"cluster.nodes[{index}]"
    if not isinstance(entry, Mapping):
        raise ConfigError(
            where,
            type(entry).__name__,
            "each startup node is a mapping like {'host': '10.0.0.1', 'port': 7000}",
        )
    try:
        return build_params(ClusterNode, entry, where=where)
    except ConfigError as error:
        raise _prefixed(error, where) from None


def parse_cluster(params: Mapping[str, Any]) -> ClusterParams:
    """Validate the connector's ``params`` holding ``cluster`` (and nothing else)."""
    others = sorted(str(key) for key in params if key != "cluster")
    if others:
        raise ConfigError(
            f"connector 'redis' params[{others[0]!r}]",
            "given with cluster",
            "a cluster connector takes only 'cluster'; its options go inside it, "
            f"e.g. {{'cluster': {_EXAMPLE}}}",
        )
    cluster = params["cluster"]
    if not isinstance(cluster, Mapping):
        raise ConfigError("cluster", type(cluster).__name__, f"pass a mapping such as {_EXAMPLE}")
    try:
        checked = build_params(ClusterParams, cluster, where="cluster")
    except ConfigError as error:
        raise _prefixed(error, "cluster") from None
    seen: dict[str, int] = {}
    for index, node in enumerate(checked.startup):
        if node.address in seen:
            raise ConfigError(
                f"cluster.nodes[{index}]",
                _Shown(node.address),
                f"the same server as cluster.nodes[{seen[node.address]}]; list each once",
            )
        seen[node.address] = index
    return checked


def check_cluster(params: Mapping[str, Any]) -> bool:
    """Validate ``params`` if they describe a cluster; False if they do not."""
    if "cluster" not in params:
        return False
    parse_cluster(params)
    return True
