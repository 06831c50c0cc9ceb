"""The ``mongo`` connector's params, validated at construction.

Errors name the node's index and field (``nodes[1].port``, read by
:func:`sergeant.node_params.build_nodes`) and never show a password, whether in
an error, a repr or a log line. A ``uri`` is read here by pymongo's own parser,
so a uri the params accept is one the client reads the same way; only a node
with a uri imports pymongo.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from sergeant.errors import ConfigError
from sergeant.node_params import build_nodes
from sergeant.redaction import redact
from sergeant.validation import (
    bracketed,
    build_params,
    host_name,
    in_range,
    instance_of,
    optional_str,
    positive_number,
    unbracketed,
)

__all__ = ["ENCODE", "MongoParams", "NodeParams", "check_params"]

#: Fields a uri gives itself: a node with a uri may not give them too.
_IN_URI = frozenset({"host", "port", "replica_set", "username", "password"})
#: How to fix a uri pymongo misreads or refuses.
ENCODE = "percent-encode special characters in the user name and password (urllib.parse.quote_plus)"


def _flag() -> Any:
    return attrs.field(default=False, validator=instance_of(bool))


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

    host: str = attrs.field(default="localhost", converter=unbracketed, validator=host_name)
    port: int = attrs.field(default=27017, validator=in_range(1, 65535))
    replica_set: str | None = optional_str()
    username: str | None = optional_str()
    password: str | None = optional_str(secret=True)
    auth_source: str | None = optional_str()
    auth_mechanism: str | None = optional_str()
    tls: bool = _flag()
    tls_ca_file: str | None = optional_str()
    tls_certificate_key_file: str | None = optional_str()
    tls_certificate_key_file_password: str | None = optional_str(secret=True)
    tls_allow_invalid_certificates: bool = _flag()
    tls_allow_invalid_hostnames: bool = _flag()
    uri: str | None = optional_str(secret=True, shown=lambda uri: repr(redact(uri)))
    name: str | None = optional_str()

    def __attrs_post_init__(self) -> None:
        if self.password is not None and self.username is None:
            raise ConfigError("username", None, "a password needs a username")
        if self.uri is not None:
            _read_uri(self.uri)

    @property
    def label(self) -> str:
        """``host:port``, or the uri's hosts as pymongo reads them (an IPv6 host in
        brackets, no port for a socket path or an srv name); never credentials."""
        if self.uri is None:
            return f"{bracketed(self.host)}:{self.port}"
        hosts = [
            bracketed(host) + ("" if port is None else f":{port}")
            for host, port in _read_uri(self.uri)["nodelist"]
        ]
        return ",".join(hosts)


def _read_uri(uri: str) -> dict[str, Any]:
    """pymongo's own reading of ``uri`` (``parse_uri`` as ``MongoClient`` calls it).

    Refused first: another scheme, and an ``@`` past the hosts, which pymongo ends
    at the first ``?``, then ``/`` (it would take an unencoded password's head for
    a host, and might quote its tail in a warning). A ``mongodb+srv://`` uri is
    read without the DNS lookup ``parse_uri`` would make, as the ``mongodb://`` uri
    of its seed name plus its options.

    :raises ConfigError: for field ``uri``, never showing it or pymongo's message.
    """
    scheme, separator, rest = uri.partition("://")
    if not separator or scheme not in ("mongodb", "mongodb+srv"):
        fix = "expected a mongodb:// or mongodb+srv:// URI"
        raise ConfigError("uri", "<redacted>", fix, show_value=False)
    hosts = rest.partition("?")[0].partition("/")[0]
    if "@" in rest[len(hosts) :]:
        fix = (
            "an '@' comes after a '/' or '?', so pymongo would take what precedes that "
            f"'/' or '?' (part of the password?) for a host, and look it up; {ENCODE}"
        )
        raise ConfigError("uri", "<redacted>", fix, show_value=False)
    from pymongo.errors import PyMongoError
    from pymongo.uri_parser import parse_uri, split_options

    try:
        if scheme == "mongodb":
            return parse_uri(uri, warn=True, normalize=False)
        seed, _, query = rest.partition("?")
        read = parse_uri(f"mongodb://{seed}", default_port=None, warn=True, normalize=False)
        read["options"] = split_options(query, warn=True, normalize=False) if query else {}
        return read
    except OSError as exc:  # a tlsCAFile or tlsCertificateKeyFile that cannot be read
        fix = (
            f"a TLS file its options name cannot be read ({exc.strerror or exc}); check that "
            "tlsCAFile and tlsCertificateKeyFile name PEM files this process can read"
        )
        raise ConfigError("uri", "<redacted>", fix, show_value=False) from None
    except (PyMongoError, ValueError):  # a bad port is a ValueError
        fix = (
            "pymongo cannot parse the uri (its message is not shown: it may quote the "
            f"password); check the uri's options, and {ENCODE}"
        )
        raise ConfigError("uri", "<redacted>", fix, show_value=False) from None


def _one_way(index: int, node: Any) -> Any:
    """Refuse a node giving a uri and fields the uri gives itself."""
    clash = sorted(_IN_URI & set(node)) if isinstance(node, Mapping) and "uri" in node else []
    if clash:
        fix = f"give either uri or {', '.join(clash)}, not both"
        raise ConfigError("uri", "<redacted>", fix, show_value=False)
    return node


def _nodes(value: Any) -> tuple[NodeParams, ...]:
    example = "{'host': ..., 'port': ...}"
    return build_nodes(
        NodeParams, value, example=example, identity=lambda n: n.label, prepare=_one_way
    )


def _database(_inst: object, _attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value or set('/\\. "$\x00') & set(value):
        fix = 'expected a MongoDB database name (no spaces, dots or / \\ " $)'
        raise ConfigError("database", value, fix)
    if len(value.encode()) >= _MAX_DATABASE_BYTES:
        fix = f"MongoDB database names are under {_MAX_DATABASE_BYTES} bytes; use a shorter one"
        raise ConfigError("database", value[:40] + "...", fix)


#: MongoDB's limit on a database name's length.
_MAX_DATABASE_BYTES = 64


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
    connect_timeout: float = attrs.field(default=5.0, validator=positive_number)
    replica_set_timeout: float = attrs.field(default=30.0, validator=positive_number)
    retry_down_after: float = attrs.field(default=1.0, validator=positive_number)


def check_params(params: Mapping[str, Any]) -> None:
    """The ``sergeant.connector_params`` entry point: validate ``params`` as the
    connector would, importing no driver (``sergeant.config.Connector`` calls it)."""
    build_params(MongoParams, params, where="connector 'mongo' params")
