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

from collections.abc import Mapping
from typing import Any

import attrs
from sergeant.errors import ConfigError
from sergeant.node_params import within
from sergeant.validation import build_params, in_range, positive_number

from sergeant_redis.params import Address, ConnectionOptions, addresses

__all__ = ["MAX_SHARDS", "ClusterParams", "check_cluster", "parse_cluster"]

#: More shards than this would spread a queue thinner than any real cluster's primaries.
MAX_SHARDS = 1024
_EXAMPLE = "{'nodes': [{'host': '10.0.0.1', 'port': 7000}], 'password': None}"


def _shards(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SHARDS:
        raise ConfigError(
            "cluster.shards",
            value,
            f"use a whole number from 1 to {MAX_SHARDS}, or None for one shard per primary",
        )


def _startup_nodes(value: Any) -> tuple[Address, ...]:
    return addresses(value, "cluster.nodes", "startup node", None)


@attrs.frozen
class ClusterParams(ConnectionOptions):
    """Everything ``cluster`` takes; only ``nodes`` is required."""

    nodes: tuple[Address, ...] = attrs.field(converter=_startup_nodes)
    #: Shards per queue; None: the number of primaries at connect time.
    shards: int | None = attrs.field(default=None, validator=_shards)
    #: Replicas that must have each write (``WAIT``, :mod:`sergeant_redis.replication`); 0: none.
    min_replicas: int = attrs.field(default=0, validator=in_range(0, 1000))
    #: Seconds a write waits for ``min_replicas`` replicas.
    min_replicas_timeout: float = attrs.field(default=1.0, validator=positive_number)


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
        return build_params(ClusterParams, cluster, where="cluster")
    except ConfigError as error:
        raise within("cluster", error) from None


def check_cluster(params: Mapping[str, Any]) -> bool:
    """Validate ``params`` if they describe a cluster; False if they do not."""
    if "cluster" not in params:
        return False
    parse_cluster(params)
    return True
