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
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
from sergeant.errors import ConfigError
from sergeant.nodes import node_names as _node_names
from sergeant.redaction import redact
from sergeant.validation import (
    build_params,
    in_range,
    instance_of,
    non_empty_str,
    positive_number,
)

__all__ = ["NodeParams", "RedisParams", "check_params", "node_names", "parse_nodes"]

_SECRET = {"secret": True}
_CERT_REQS = ("required", "optional", "none")
#: Fields a url already says; giving them next to ``url`` is ambiguous.
_URL_FIELDS = ("host", "port", "password", "database", "username", "ssl")


def _cert_reqs(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value not in _CERT_REQS:
        raise ConfigError(attribute.name, value, "use 'required', 'optional' or 'none'")


def _optional_str(secret: bool = False) -> Any:
    return attrs.field(
        default=None,
        validator=instance_of(str, allow_none=True),
        metadata=_SECRET if secret else {},
        repr=not secret,
    )


@attrs.frozen
class NodeParams:
    """One redis-server. Defaults match redis-server's own (localhost:6379, database 0)."""

    host: str = attrs.field(default="localhost", validator=non_empty_str)
    port: int = attrs.field(default=6379, validator=in_range(1, 65535))
    password: str | None = _optional_str(secret=True)
    database: int = attrs.field(default=0, validator=in_range(0, 2**31 - 1))
    username: str | None = _optional_str()
    ssl: bool = attrs.field(default=False, validator=instance_of(bool))
    ssl_ca_certs: str | None = _optional_str()
    ssl_certfile: str | None = _optional_str()
    ssl_keyfile: str | None = _optional_str()
    ssl_password: str | None = _optional_str(secret=True)
    ssl_cert_reqs: str = attrs.field(default="required", validator=_cert_reqs)
    ssl_check_hostname: bool = attrs.field(default=True, validator=instance_of(bool))
    #: Seconds to wait for a reply; past it the node counts as down for a while.
    socket_timeout: float = attrs.field(default=10.0, validator=positive_number)
    #: Seconds to wait for a TCP connection.
    socket_connect_timeout: float = attrs.field(default=5.0, validator=positive_number)
    url: str | None = attrs.field(
        default=None,
        validator=instance_of(str, allow_none=True),
        repr=lambda url: repr(redact(url)),
    )
    #: What rendezvous hashing keys on; None names the node by its position
    #: (see :mod:`sergeant.nodes`).
    name: str | None = attrs.field(default=None, validator=instance_of(str, allow_none=True))

    @property
    def address(self) -> str:
        """``host:port``: how messages name this node (never with credentials)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def identity(self) -> str:
        """``host:port/database`` as spelled: finds a node listed twice (hashing
        keys on the node's name instead, see :func:`parse_nodes`)."""
        return f"{self.address}/{self.database}"


def _nodes_list(_inst: object, _attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not value:
        shown = _Shown("[]") if isinstance(value, list | tuple) else type(value).__name__
        raise ConfigError(
            "nodes",
            shown,
            "pass a non-empty list such as "
            "[{'host': 'localhost', 'port': 6379, 'password': None, 'database': 0}]",
        )


@attrs.frozen
class RedisParams:
    """Everything the ``redis`` connector takes: ``nodes`` (default: one redis-server
    on localhost:6379, database 0, what ``--connector redis`` means)."""

    nodes: Sequence[Any] = attrs.field(default=({},), validator=_nodes_list)


class _Shown:
    """Carries an already-rendered value into a new ConfigError message."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _within(index: int, error: ConfigError) -> ConfigError:
    """The same error, with its field named ``nodes[index].field``."""
    message = str(error)
    head, tail = f"invalid {error.field}: ", f"; {error.fix}"
    shown = message[len(head) : len(message) - len(tail)]
    field = error.field if error.field.startswith("nodes[") else f"nodes[{index}].{error.field}"
    return ConfigError(field, _Shown(shown), error.fix)


def _from_url(index: int, url: str) -> dict[str, Any]:
    field = f"nodes[{index}].url"
    shown = _Shown(repr(redact(url)))
    # A url with no '@' has no userinfo to hide, yet one that cannot be parsed, or
    # has no host, may be a password with the '@host' left out: never shown.
    unsure = shown if "@" in url else _Shown("<redacted>")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:  # its message may quote part of the password: never shown
        raise ConfigError(
            field,
            unsure,
            "not a valid url: percent-encode special characters in the user name and "
            "password (urllib.parse.quote(password, safe=''))",
        ) from None
    if parts.scheme not in ("redis", "rediss"):
        raise ConfigError(field, shown, "use a redis:// or rediss:// url")
    if not parts.hostname:
        raise ConfigError(field, unsure, "the url needs a host, e.g. redis://localhost:6379/0")
    if parts.query or parts.fragment:
        raise ConfigError(
            field, shown, "put options in the node mapping next to 'url', not in the query"
        )
    path = parts.path.strip("/")
    if path and not (path.isascii() and path.isdigit()):
        raise ConfigError(field, shown, "the path is the database number, e.g. /0")
    unquote = urllib.parse.unquote
    return {
        "host": parts.hostname,
        "port": port if port is not None else 6379,
        "database": int(path) if path else 0,
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "ssl": parts.scheme == "rediss",
    }


def _node(index: int, entry: Any) -> NodeParams:
    if isinstance(entry, str):
        entry = {"url": entry}
    if not isinstance(entry, Mapping):
        raise ConfigError(
            f"nodes[{index}]",
            type(entry).__name__,
            "each node is a mapping like {'host': 'localhost', 'port': 6379} or a redis:// url",
        )
    fields = dict(entry)
    try:
        url = fields.get("url")
        if url is not None:
            clashing = [name for name in _URL_FIELDS if name in fields]
            if clashing:
                raise ConfigError(
                    f"nodes[{index}].{clashing[0]}",
                    _Shown("<given with url>"),
                    "give either a url or host/port/password/database/username/ssl, not both",
                )
            if not isinstance(url, str):
                raise ConfigError("url", type(url).__name__, "expected a redis:// url string")
            fields.update(_from_url(index, url))
        return build_params(NodeParams, fields, where=f"nodes[{index}]")
    except ConfigError as error:
        raise _within(index, error) from None


def node_names(nodes: Sequence[NodeParams]) -> tuple[str, ...]:
    """The names rendezvous hashing keys on: ``name``, else the position (``'#i'``)."""
    return _node_names([node.name for node in nodes])


def parse_nodes(params: Mapping[str, Any]) -> tuple[NodeParams, ...]:
    """Validate the connector's ``params`` and return one :class:`NodeParams` per node."""
    checked = build_params(RedisParams, params, where="connector 'redis' params")
    nodes = tuple(_node(index, entry) for index, entry in enumerate(checked.nodes))
    seen: dict[str, int] = {}
    for index, node in enumerate(nodes):
        if node.identity in seen:
            raise ConfigError(
                f"nodes[{index}]",
                _Shown(node.identity),
                f"the same server and database as nodes[{seen[node.identity]}]; list each once",
            )
        seen[node.identity] = index
    node_names(nodes)  # distinct, or ConfigError
    return nodes


def check_params(params: Mapping[str, Any]) -> None:
    """The ``sergeant.connector_params`` entry point: validate ``params`` as the
    connector would, importing no driver (``sergeant.config.Connector`` calls it)."""
    from sergeant_redis.cluster_params import check_cluster  # imports this module

    if not check_cluster(params):
        parse_nodes(params)
