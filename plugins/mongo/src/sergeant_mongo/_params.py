"""The ``mongo`` connector's params, validated at construction.

Errors name the node's index and field (``nodes[1].port``) and never show a
password, whether in an error, a repr or a log line. A ``uri`` is read by
pymongo's own parser, here, so a uri the params accept is one the client reads
the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from sergeant.errors import ConfigError
from sergeant.nodes import node_names
from sergeant.redaction import redact
from sergeant.validation import build_params, check_positive, in_range, instance_of

__all__ = ["MongoParams", "NodeParams", "check_params"]

_FORBIDDEN_DB_CHARS = frozenset('/\\. "$\x00')


def _redacted_repr(value: object) -> str:
    return repr(redact(value))


def _secret_repr(value: object) -> str:
    return "None" if value is None else "'***'"


def _optional_str(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        secret = attribute.metadata.get("secret", False)
        raise ConfigError(
            attribute.name, value, "expected a non-empty string or None", show_value=not secret
        )


@attrs.frozen(slots=True)
class NodeParams:
    """One MongoDB server (or, with ``uri``, one deployment) used as an independent node.

    :ivar host: server host name or address.
    :ivar port: server port.
    :ivar replica_set: the name the server was started with (``mongod --replSet NAME``).
        The connector initiates a one-member replica set there if it has none yet.
        None uses the server as a standalone server.
    :ivar username: user to authenticate as (with ``password`` and ``auth_source``).
    :ivar password: never shown in errors, reprs or logs.
    :ivar auth_source: database holding the user's credentials (pymongo's ``authSource``).
    :ivar auth_mechanism: e.g. ``SCRAM-SHA-256``; None lets the server choose.
    :ivar tls: connect with TLS.
    :ivar tls_ca_file: CA bundle to verify the server certificate.
    :ivar tls_certificate_key_file: client certificate and key (PEM) for mutual TLS.
    :ivar tls_certificate_key_file_password: password of that key; never shown.
    :ivar tls_allow_invalid_certificates: skip certificate verification (testing only).
    :ivar tls_allow_invalid_hostnames: skip host name verification (testing only).
    :ivar uri: a ``mongodb://`` or ``mongodb+srv://`` URI used as given instead of
        ``host``/``port``/credentials; replica-set initiation does not apply to it.
        Refused when pymongo cannot parse it, or would read an ``@`` past the
        hosts (an unencoded password's head taken for a host name).
    :ivar name: what rendezvous hashing of keys and locks keys on; None names the
        node by its position in ``nodes`` (``'#0'``, ...), never by its host as
        spelled (see :mod:`sergeant.nodes`).
    """

    host: str = attrs.field(default="localhost", validator=instance_of(str))
    port: int = attrs.field(default=27017, validator=in_range(1, 65535))
    replica_set: str | None = attrs.field(default=None, validator=_optional_str)
    username: str | None = attrs.field(default=None, validator=_optional_str)
    password: str | None = attrs.field(
        default=None,
        validator=_optional_str,
        repr=_secret_repr,
        metadata={"secret": True},
    )
    auth_source: str | None = attrs.field(default=None, validator=_optional_str)
    auth_mechanism: str | None = attrs.field(default=None, validator=_optional_str)
    tls: bool = attrs.field(default=False, validator=instance_of(bool))
    tls_ca_file: str | None = attrs.field(default=None, validator=_optional_str)
    tls_certificate_key_file: str | None = attrs.field(default=None, validator=_optional_str)
    tls_certificate_key_file_password: str | None = attrs.field(
        default=None,
        validator=_optional_str,
        repr=_secret_repr,
        metadata={"secret": True},
    )
    tls_allow_invalid_certificates: bool = attrs.field(default=False, validator=instance_of(bool))
    tls_allow_invalid_hostnames: bool = attrs.field(default=False, validator=instance_of(bool))
    uri: str | None = attrs.field(
        default=None, validator=_optional_str, repr=_redacted_repr, metadata={"secret": True}
    )
    name: str | None = attrs.field(default=None, validator=_optional_str)

    def __attrs_post_init__(self) -> None:
        if not self.host:
            raise ConfigError("host", self.host, "expected a host name or address")
        if self.password is not None and self.username is None:
            raise ConfigError("username", None, "a password needs a username")
        if self.uri is not None:
            _read_uri(self.uri)

    @property
    def label(self) -> str:
        """``host:port`` (or the uri's hosts as pymongo reads them), for stats and
        errors; never credentials."""
        if self.uri is None:
            return f"{self.host}:{self.port}"
        return ",".join(_address(host, port) for host, port in _read_uri(self.uri)["nodelist"])


_SCHEMES = ("mongodb://", "mongodb+srv://")
_SRV = "mongodb+srv://"


def _read_uri(uri: str) -> dict[str, Any]:
    """pymongo's own reading of ``uri`` (``parse_uri`` as ``MongoClient`` calls it).

    Refused first: another scheme, and an ``@`` past the hosts (pymongo would take
    an unencoded password's head for a host, and might quote its tail in a
    warning). A ``mongodb+srv://`` uri is read without the DNS lookup
    ``parse_uri`` would make, as the ``mongodb://`` uri of its seed name plus its
    options. Only a node with a uri imports pymongo.

    :raises ConfigError: for field ``uri``, never showing it or pymongo's message.
    """
    if not uri.startswith(_SCHEMES):
        raise ConfigError(
            "uri", "<redacted>", "expected a mongodb:// or mongodb+srv:// URI", show_value=False
        )
    if _at_past_hosts(uri):
        raise ConfigError(
            "uri",
            "<redacted>",
            "an '@' comes after a '/' or '?', so pymongo would take what precedes that "
            "'/' or '?' (part of the password?) for a host, and look it up; "
            "percent-encode special characters in the user name and password "
            "(urllib.parse.quote_plus)",
            show_value=False,
        )
    from pymongo.errors import PyMongoError
    from pymongo.uri_parser import parse_uri, split_options

    try:
        if not uri.startswith(_SRV):
            return parse_uri(uri, warn=True, normalize=False)
        seed, _, query = uri.removeprefix(_SRV).partition("?")
        read = parse_uri(f"mongodb://{seed}", default_port=None, warn=True, normalize=False)
        read["options"] = split_options(query, warn=True, normalize=False) if query else {}
        return read
    except (PyMongoError, ValueError):  # a bad port is a ValueError
        raise ConfigError(
            "uri",
            "<redacted>",
            "pymongo cannot parse the uri (its message is not shown: it may quote the "
            "password); check the uri's options, and percent-encode special characters in "
            "the user name and password (urllib.parse.quote_plus)",
            show_value=False,
        ) from None


def _at_past_hosts(uri: str) -> bool:
    """True if ``uri`` has an ``@`` past its hosts, which pymongo ends at the first
    ``?``, then ``/`` (its credentials end at the last ``@`` before that)."""
    rest = uri.split("://", 1)[1]
    hosts = rest.partition("?")[0].partition("/")[0]
    return "@" in rest[len(hosts) :]


def _address(host: str, port: int | None) -> str:
    """``host:port`` as written in a uri: an IPv6 host in brackets, no port for a socket
    path or an srv name."""
    shown = f"[{host}]" if ":" in host else host
    return shown if port is None else f"{shown}:{port}"


def _node(index: int, raw: Any) -> NodeParams:
    where = f"nodes[{index}]"
    if not isinstance(raw, Mapping):
        raise ConfigError(
            where, type(raw).__name__, "each node is a mapping like {'host': ..., 'port': ...}"
        )
    if "uri" in raw:
        clash = sorted(set(raw) & {"host", "port", "replica_set", "username", "password"})
        if clash:
            raise ConfigError(
                f"{where}.uri",
                "<redacted>",
                f"give either uri or {', '.join(clash)}, not both",
                show_value=False,
            )
    try:
        return build_params(NodeParams, raw, where=where)
    except ConfigError as exc:
        if exc.field.startswith(where):
            raise
        field = exc.field
        secret = attrs.fields_dict(NodeParams).get(field)
        hidden = secret is not None and secret.metadata.get("secret", False)
        raise ConfigError(
            f"{where}.{field}", raw.get(field), exc.fix, show_value=not hidden
        ) from None


def _nodes(value: Any) -> tuple[NodeParams, ...]:
    if isinstance(value, Mapping | str | bytes) or not hasattr(value, "__iter__"):
        raise ConfigError(
            "nodes", type(value).__name__, "pass a list of nodes like [{'host': ..., 'port': ...}]"
        )
    nodes = tuple(_node(index, raw) for index, raw in enumerate(value))
    if not nodes:
        raise ConfigError("nodes", [], "give at least one node")
    labels = [node.label for node in nodes]
    for index, label in enumerate(labels):
        if label in labels[:index]:
            raise ConfigError(f"nodes[{index}]", label, "each node may appear only once")
    node_names([node.name for node in nodes])  # distinct, or ConfigError
    return nodes


def _database(_inst: object, _attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value or _FORBIDDEN_DB_CHARS & set(value):
        raise ConfigError(
            "database", value, 'expected a MongoDB database name (no spaces, dots or / \\ " $)'
        )


def _seconds(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_positive(attribute.name, value)


@attrs.frozen(slots=True)
class MongoParams:
    """Params of the ``mongo`` connector.

    :ivar nodes: independent servers; items are spread across them (default: one
        standalone server on localhost:27017, what ``--connector mongo`` means).
    :ivar database: database holding the ``queues``, ``keys`` and ``locks`` collections.
    :ivar connect_timeout: seconds to wait for a server before treating it as down.
    :ivar replica_set_timeout: seconds to wait for an initiated replica set to elect
        its primary.
    :ivar retry_down_after: seconds a node that failed is skipped before it is tried again
        (doubled on each further failure, up to ten times this).
    """

    nodes: tuple[NodeParams, ...] = attrs.field(default=({},), converter=_nodes)
    database: str = attrs.field(default="sergeant", validator=_database)
    connect_timeout: float = attrs.field(default=5.0, validator=_seconds)
    replica_set_timeout: float = attrs.field(default=30.0, validator=_seconds)
    retry_down_after: float = attrs.field(default=1.0, validator=_seconds)


def check_params(params: Mapping[str, Any]) -> None:
    """The ``sergeant.connector_params`` entry point: validate ``params`` as the
    connector would, importing no driver (``sergeant.config.Connector`` calls it)."""
    build_params(MongoParams, params, where="connector 'mongo' params")
