"""The ``params`` of the ``redis`` connector, validated at construction.

``nodes`` is a list with one entry per independent redis-server (not a cluster).
An entry is a mapping, as on Sergeant's documentation page::

    {'host': 'localhost', 'port': 6379, 'password': None, 'database': 0}

also accepting ``username``, ``ssl`` and the TLS options (``ssl_ca_certs``,
``ssl_certfile``, ``ssl_keyfile``, ``ssl_password``, ``ssl_cert_reqs``,
``ssl_check_hostname``), ``socket_timeout`` and ``socket_connect_timeout``; or
a url, either as the whole entry (``'redis://:secret@host:6379/0'``) or as
``{'url': ..., <TLS and timeout options>}``. ``rediss://`` turns TLS on.
``name`` names the node for hashing keys and locks (default: its position,
``'#0'``, ``'#1'``, ...; see :mod:`sergeant.nodes`).

A bad entry fails with :class:`~sergeant.errors.ConfigError` naming the entry's
index and field, e.g. ``nodes[1].port``; passwords are never shown.

``sentinel`` (instead of ``nodes``) names a Redis Sentinel deployment: one
logical node, whose primary the sentinels name (see :class:`SentinelParams`).

``min_replicas`` (top level; a node entry may override it) makes every write
wait (``WAIT``) until that many replicas have it, for at most
``min_replicas_timeout`` seconds (see :mod:`sergeant_redis.replication`).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
from sergeant.errors import ConfigError
from sergeant.node_params import build_nodes, within
from sergeant.nodes import node_names as _node_names
from sergeant.redaction import redact
from sergeant.validation import (
    bracketed,
    build_params,
    host_name,
    in_range,
    instance_of,
    non_empty_str,
    optional_str,
    positive_number,
    unbracketed,
)

__all__ = [
    "Address",
    "ConnectionOptions",
    "NodeParams",
    "RedisParams",
    "SentinelNodeParams",
    "SentinelParams",
    "check_params",
    "node_names",
    "parse_nodes",
]

_CERT_REQS = ("required", "optional", "none")
#: Fields a url already says; giving them next to ``url`` is ambiguous.
_URL_FIELDS = ("host", "port", "password", "database", "username", "ssl")


def _cert_reqs(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value not in _CERT_REQS:
        raise ConfigError(attribute.name, value, "use 'required', 'optional' or 'none'")


@attrs.frozen(kw_only=True)
class ConnectionOptions:
    """Credentials, TLS options and timeouts, taken alike by a node, a Sentinel
    deployment's data nodes and a cluster's members (redis-py's names)."""

    password: str | None = optional_str(secret=True, allow_empty=True)
    username: str | None = optional_str(allow_empty=True)
    ssl: bool = attrs.field(default=False, validator=instance_of(bool))
    ssl_ca_certs: str | None = optional_str(allow_empty=True)
    ssl_certfile: str | None = optional_str(allow_empty=True)
    ssl_keyfile: str | None = optional_str(allow_empty=True)
    ssl_password: str | None = optional_str(secret=True, allow_empty=True)
    ssl_cert_reqs: str = attrs.field(default="required", validator=_cert_reqs)
    ssl_check_hostname: bool = attrs.field(default=True, validator=instance_of(bool))
    #: Seconds to wait for a reply; past it the node counts as down for a while.
    socket_timeout: float = attrs.field(default=10.0, validator=positive_number)
    #: Seconds to wait for a TCP connection.
    socket_connect_timeout: float = attrs.field(default=5.0, validator=positive_number)

    def driver_options(self) -> dict[str, Any]:
        """These options as redis-py's clients take them (the TLS ones only with ``ssl``)."""
        options: dict[str, Any] = {
            "username": self.username,
            "password": self.password,
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": self.socket_connect_timeout,
            "socket_keepalive": True,
            "client_name": "sergeant",
        }
        if self.ssl:
            options.update(
                ssl=True,
                ssl_ca_certs=self.ssl_ca_certs,
                ssl_certfile=self.ssl_certfile,
                ssl_keyfile=self.ssl_keyfile,
                ssl_password=self.ssl_password,
                ssl_cert_reqs=self.ssl_cert_reqs,
                ssl_check_hostname=self.ssl_check_hostname,
            )
        return options


@attrs.frozen
class NodeParams(ConnectionOptions):
    """One redis-server. Defaults match redis-server's own (localhost:6379, database 0)."""

    host: str = attrs.field(default="localhost", converter=unbracketed, validator=host_name)
    port: int = attrs.field(default=6379, validator=in_range(1, 65535))
    database: int = attrs.field(default=0, validator=in_range(0, 2**31 - 1))
    url: str | None = optional_str(
        secret=True, allow_empty=True, shown=lambda url: repr(redact(url))
    )
    #: What rendezvous hashing keys on; None names the node by its position
    #: (see :mod:`sergeant.nodes`).
    name: str | None = attrs.field(default=None, validator=instance_of(str, allow_none=True))
    #: Replicas that must have each write before it returns (0: do not wait).
    min_replicas: int = attrs.field(default=0, validator=in_range(0, 1000))
    #: Seconds a write waits for ``min_replicas`` replicas.
    min_replicas_timeout: float = attrs.field(default=1.0, validator=positive_number)

    def __attrs_post_init__(self) -> None:
        if self.ssl and self.host.startswith("/"):
            fix = "a unix socket (a host starting with '/') takes no TLS: drop ssl"
            raise ConfigError("ssl", True, fix)

    @property
    def where(self) -> str:
        """How error messages name this node's config, with its index: ``nodes[{}]``."""
        return "nodes[{}]"

    @property
    def address(self) -> str:
        """``host:port``, or a unix socket's path: how messages name this node
        (never with credentials)."""
        return self.host if self.host.startswith("/") else _host_port(self.host, self.port)

    @property
    def identity(self) -> str:
        """``host:port/database`` as spelled: finds a node listed twice (hashing
        keys on the node's name instead, see :func:`parse_nodes`)."""
        return f"{self.address}/{self.database}"


@attrs.frozen
class RedisParams:
    """Everything the ``redis`` connector takes: ``nodes`` (default: one redis-server
    on localhost:6379, database 0, what ``--connector redis`` means) or
    ``sentinel``; ``min_replicas`` and ``min_replicas_timeout`` for every node."""

    nodes: Any = attrs.field(default=({},))
    sentinel: Any = attrs.field(default=None)
    min_replicas: int = attrs.field(default=0, validator=in_range(0, 1000))
    min_replicas_timeout: float = attrs.field(default=1.0, validator=positive_number)


@attrs.frozen
class Address:
    """A server listed by host and port only: a sentinel, a cluster's startup node."""

    host: str = attrs.field(converter=unbracketed, validator=host_name)
    port: int = attrs.field(validator=in_range(1, 65535))

    @property
    def address(self) -> str:
        """``host:port`` (never with credentials)."""
        return _host_port(self.host, self.port)


def addresses(value: Any, field: str, what: str, default_port: int | None) -> tuple[Address, ...]:
    """Each ``{'host': ..., 'port': ...}`` entry of the list ``value``, built as an
    :class:`Address` (``host`` defaulting to localhost and ``port`` to
    ``default_port``, where one is given); errors name ``field`` and ``what``."""
    defaults = {} if default_port is None else {"host": "localhost", "port": default_port}
    return build_nodes(
        Address,
        value,
        example=f"{{'host': '10.0.0.1', 'port': {default_port or 7000}}}",
        identity=lambda entry: entry.address,
        prepare=lambda _, entry: {**defaults, **entry} if isinstance(entry, Mapping) else entry,
        field=field,
        what=what,
    )


def _sentinels(value: Any) -> tuple[Address, ...]:
    return addresses(value, "sentinel.nodes", "sentinel", 26379)


@attrs.frozen
class SentinelParams(ConnectionOptions):
    """A Redis Sentinel deployment, as ``params={'sentinel': {...}}`` gives it.

    ``nodes`` lists the sentinels (``{'host': ..., 'port': 26379}`` each);
    ``service_name`` is the name the sentinels monitor the primary under.
    ``username``/``password``/``database`` and the TLS and timeout options are
    the data nodes' (the primary and its replicas); ``sentinel_username`` and
    ``sentinel_password`` are the sentinels' own, when they ask for one
    (``requirepass`` in sentinel.conf). TLS (``ssl`` and ``ssl_*``) applies to
    both the sentinels and the data nodes.
    """

    nodes: tuple[Address, ...] = attrs.field(converter=_sentinels)
    service_name: str = attrs.field(default="sergeant", validator=non_empty_str)
    sentinel_password: str | None = optional_str(secret=True, allow_empty=True)
    sentinel_username: str | None = optional_str(allow_empty=True)
    database: int = attrs.field(default=0, validator=in_range(0, 2**31 - 1))
    name: str | None = attrs.field(default=None, validator=instance_of(str, allow_none=True))


@attrs.frozen
class SentinelNodeParams(NodeParams):
    """The one logical node of a Sentinel deployment: the primary the sentinels
    name (``host``/``port`` are unused; the connection asks the sentinels)."""

    sentinels: tuple[tuple[str, int], ...] = ()
    service_name: str = "sergeant"
    sentinel_username: str | None = None
    sentinel_password: str | None = optional_str(secret=True, allow_empty=True)

    @property
    def where(self) -> str:
        return "sentinel"

    @property
    def address(self) -> str:
        """``service via sentinel host:port,host:port`` (never with credentials)."""
        listed = ",".join(_host_port(host, port) for host, port in self.sentinels)
        return f"{self.service_name} via sentinel {listed}"

    @property
    def identity(self) -> str:
        return f"{self.address}/{self.database}"


def _host_port(host: str, port: int) -> str:
    return f"{bracketed(host)}:{port}"


def _sentinel(value: Any, top: RedisParams) -> SentinelNodeParams:
    if not isinstance(value, Mapping):
        raise ConfigError(
            "sentinel",
            type(value).__name__,
            "pass a mapping like {'nodes': [{'host': '10.0.0.1', 'port': 26379}], "
            "'service_name': 'sergeant', 'password': None}",
        )
    try:
        checked = build_params(SentinelParams, value, where="sentinel")
    except ConfigError as error:
        raise within("sentinel", error) from None
    sentinels = tuple((entry.host, entry.port) for entry in checked.nodes)
    fields = attrs.asdict(checked, recurse=False)
    del fields["nodes"]
    return SentinelNodeParams(
        sentinels=sentinels,
        min_replicas=top.min_replicas,
        min_replicas_timeout=top.min_replicas_timeout,
        **fields,
    )


def _from_url(index: int, url: str) -> dict[str, Any]:
    field = f"nodes[{index}].url"
    shown = repr(redact(url))
    # A url with no '@' has no userinfo to hide, yet one that cannot be parsed, or
    # has no host, may be a password with the '@host' left out: never shown.
    unsure = shown if "@" in url else "<redacted>"
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:  # its message may quote part of the password: never shown
        raise ConfigError(
            field,
            None,
            "not a valid url: percent-encode special characters in the user name and "
            "password (urllib.parse.quote(password, safe=''))",
            shown=unsure,
        ) from None
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 0 < port < 65536:
        host_port = parts.netloc.rpartition("@")[2]
        text = host_port.rpartition(":")[2]
        # Only what follows a parsed '@', or a lone host:port, is surely a port: a
        # password holding '/' or ':' ends the url's netloc inside itself.
        if "@" in parts.netloc or (host_port.count(":") == 1 and text.isdigit()):
            what = f"{text} is not" if text.isdigit() else f"{text!r} is not a number"
            raise ConfigError(field, None, f"its port {what} from 1 to 65535", shown=shown)
        fix = (
            "its port is not a number from 1 to 65535 (not shown: it may be part of a "
            "password; quote one holding '/', ':' or '@' with urllib.parse.quote(password, "
            "safe=''))"
        )
        raise ConfigError(field, None, fix, shown=unsure)
    if parts.scheme not in ("redis", "rediss"):
        fix = "use a redis:// or rediss:// url (a unix socket: {'host': '/path/to/redis.sock'})"
        raise ConfigError(field, None, fix, shown=shown)
    if not parts.hostname:
        fix = "the url needs a host, e.g. redis://localhost:6379/0"
        raise ConfigError(field, None, fix, shown=unsure)
    if parts.query or parts.fragment:
        fix = "put options in the node mapping next to 'url', not in the query"
        raise ConfigError(field, None, fix, shown=shown)
    path = parts.path.strip("/")
    if path and not (path.isascii() and path.isdigit()):
        raise ConfigError(field, None, "the path is the database number, e.g. /0", shown=shown)
    unquote = urllib.parse.unquote
    return {
        "host": parts.hostname,
        "port": port if port is not None else 6379,
        "database": int(path) if path else 0,
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "ssl": parts.scheme == "rediss",
    }


def _entry(top: RedisParams) -> Callable[[int, Any], Any]:
    """``prepare`` for :func:`~sergeant.node_params.build_nodes`: an entry (a url
    or a mapping) as the fields of a :class:`NodeParams`, with ``top``'s defaults."""

    def prepare(index: int, entry: Any) -> Any:
        if isinstance(entry, str):
            entry = {"url": entry}
        if not isinstance(entry, Mapping):
            raise ConfigError(
                f"nodes[{index}]",
                type(entry).__name__,
                "each node is a mapping like {'host': 'localhost', 'port': 6379} or a redis:// url",
            )
        fields = dict(entry)
        fields.setdefault("min_replicas", top.min_replicas)
        fields.setdefault("min_replicas_timeout", top.min_replicas_timeout)
        url = fields.get("url")
        if url is not None:
            clashing = [name for name in _URL_FIELDS if name in fields]
            if clashing:
                raise ConfigError(
                    f"nodes[{index}].{clashing[0]}",
                    None,
                    "give either a url or host/port/password/database/username/ssl, not both",
                    shown="<given with url>",
                )
            if not isinstance(url, str):
                raise ConfigError("url", type(url).__name__, "expected a redis:// url string")
            fields.update(_from_url(index, url))
        return fields

    return prepare


def node_names(nodes: Sequence[NodeParams]) -> tuple[str, ...]:
    """The names rendezvous hashing keys on: ``name``, else the position (``'#i'``)."""
    return _node_names([node.name for node in nodes])


def parse_nodes(params: Mapping[str, Any]) -> tuple[NodeParams, ...]:
    """Validate the connector's ``params`` and return one :class:`NodeParams` per node
    (a Sentinel deployment is one node: a :class:`SentinelNodeParams`)."""
    if isinstance(params, Mapping) and "sentinel" in params and "nodes" in params:
        raise ConfigError(
            "nodes",
            None,
            "give either nodes (independent servers) or sentinel (one primary the "
            "sentinels fail over), not both",
            shown="<given with sentinel>",
        )
    checked = build_params(RedisParams, params, where="connector 'redis' params")
    if "sentinel" in params:
        return (_sentinel(checked.sentinel, checked),)
    return build_nodes(
        NodeParams,
        checked.nodes,
        example="{'host': 'localhost', 'port': 6379}",
        identity=lambda node: node.identity,
        prepare=_entry(checked),
    )


def check_params(params: Mapping[str, Any]) -> None:
    """The ``sergeant.connector_params`` entry point: validate ``params`` as the
    connector would, importing no driver (``sergeant.config.Connector`` calls it)."""
    from sergeant_redis.cluster_params import check_cluster  # imports this module

    if not check_cluster(params):
        parse_nodes(params)
