"""One MongoDB node: its client, its one-time setup, and whether it is down.

A node is set up on first use (replica-set initiation when asked for, then the
indexes). A node whose server cannot be reached is *down* (its
:class:`~sergeant.nodes.Health`): callers skip it for ``retry_down_after``
seconds, doubled on each further failure (up to ten times), and try it again
after that.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
from bson.errors import InvalidDocument
from pymongo import ASCENDING, MongoClient
from pymongo.collection import Collection
from pymongo.errors import (
    ConfigurationError,
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
)
from sergeant.errors import (
    AuthenticationError,
    ConfigError,
    ConnectorUnavailableError,
    StorageError,
)
from sergeant.nodes import Backoff, Health
from sergeant.redaction import redact

from sergeant_mongo._params import NodeParams
from sergeant_mongo._replica import ensure_replica_set

__all__ = ["Collections", "Node", "NodeSettings"]

T = TypeVar("T")

Document = dict[str, Any]

#: The index every pop and reserve walks: ready items in (priority, visible time, push order).
READY_INDEX = "sergeant_ready"
#: The TTL index that drops expired locks (reads also check expiry: the TTL monitor is slow).
LOCK_EXPIRY_INDEX = "sergeant_lock_expiry"

_AUTH_FAILED = frozenset({18, 13})  # AuthenticationFailed, Unauthorized
#: A node down again and again is skipped at most this many times ``retry_down_after``.
_MAX_BACKOFF_FACTOR = 10


@attrs.frozen(slots=True)
class Collections:
    """The three collections a node keeps."""

    queues: Collection[Document]
    keys: Collection[Document]
    locks: Collection[Document]


@attrs.frozen(slots=True)
class NodeSettings:
    """Connector-wide settings every node uses."""

    database: str
    connect_timeout: float
    replica_set_timeout: float
    retry_down_after: float
    client_options: Mapping[str, Any] = attrs.field(factory=dict)


class Node:
    """A server (or URI deployment) used as one independent node of the connector."""

    def __init__(self, index: int, params: NodeParams, settings: NodeSettings) -> None:
        self.index = index
        self.params = params
        self.label = params.label
        self._settings = settings
        self._guard = threading.Lock()
        self._client: MongoClient[Document] | None = None
        self._collections: Collections | None = None
        first = settings.retry_down_after
        self.health = Health(Backoff(first=first, limit=first * _MAX_BACKOFF_FACTOR))
        self._closed = False

    def __repr__(self) -> str:
        return f"Node(index={self.index}, label={self.label!r})"

    # Running operations --------------------------------------------------------

    def run(self, operation: Callable[[Collections], T]) -> T:
        """Run ``operation`` on this node's collections, translating driver errors.

        :raises ConnectorUnavailableError: the server cannot be reached (the node is
            marked down).
        :raises AuthenticationError: the server refused the credentials.
        :raises StorageError: the server refused the operation.
        """
        try:
            result = operation(self.collections())
        except ConnectionFailure as exc:
            self.health.failed()
            raise self._unavailable(exc) from None
        except OperationFailure as exc:
            raise self._refused(exc) from None
        except PyMongoError as exc:
            raise StorageError(f"mongo node {self.label}: {redact(str(exc))}") from None
        except InvalidDocument as exc:  # DocumentTooLarge too: not a PyMongoError
            raise StorageError(
                f"mongo node {self.label} cannot store the item: {str(exc)[:200]}; "
                "MongoDB documents are at most 16 MiB, so keep items well below that"
            ) from None
        self.health.succeeded()
        return result

    def _unavailable(self, exc: BaseException) -> ConnectorUnavailableError:
        return ConnectorUnavailableError(
            f"mongo node {self.label} (nodes[{self.index}]) is unreachable: "
            f"{redact(str(exc)).splitlines()[0][:300]}"
        )

    def _refused(self, exc: OperationFailure) -> StorageError:
        if exc.code in _AUTH_FAILED or "authentication failed" in str(exc).lower():
            who = "the uri's credentials" if self.params.uri else repr(self.params.username)
            return AuthenticationError(
                f"mongo node {self.label} (nodes[{self.index}]) refused the credentials "
                f"of user {who}: check username, password, auth_source and auth_mechanism"
            )
        return StorageError(
            f"mongo node {self.label} refused the operation: {redact(str(exc))[:300]}"
        )

    # Setup -------------------------------------------------------------------

    def collections(self) -> Collections:
        """The node's collections, setting the node up first if needed."""
        found = self._collections
        if found is not None:
            return found
        with self._guard:
            if self._closed:
                raise StorageError("the mongo connector is closed")
            if self._collections is None:
                self._collections = self._setup()
            return self._collections

    def _client_kwargs(self) -> dict[str, Any]:
        p, s = self.params, self._settings
        timeout_ms = int(s.connect_timeout * 1000)
        kwargs: dict[str, Any] = {
            "serverSelectionTimeoutMS": timeout_ms,
            "connectTimeoutMS": timeout_ms,
            "tz_aware": True,
            "appname": "sergeant",
            **s.client_options,
        }
        if p.uri is not None:
            return kwargs
        optional = {
            "username": p.username,
            "password": p.password,
            "authSource": p.auth_source,
            "authMechanism": p.auth_mechanism,
            "tlsCAFile": p.tls_ca_file,
            "tlsCertificateKeyFile": p.tls_certificate_key_file,
            "tlsCertificateKeyFilePassword": p.tls_certificate_key_file_password,
        }
        kwargs.update({k: v for k, v in optional.items() if v is not None})
        if p.tls:
            kwargs["tls"] = True
            if p.tls_allow_invalid_certificates:
                kwargs["tlsAllowInvalidCertificates"] = True
            if p.tls_allow_invalid_hostnames:
                kwargs["tlsAllowInvalidHostnames"] = True
        return kwargs

    def _new_client(self, **extra: Any) -> MongoClient[Document]:
        p = self.params
        try:
            if p.uri is not None:
                return MongoClient(p.uri, **self._client_kwargs(), **extra)
            return MongoClient(host=p.host, port=p.port, **self._client_kwargs(), **extra)
        except (ConfigurationError, ValueError) as exc:  # a bad port in a uri: ValueError
            # pymongo's message may quote part of the uri (a port made of a password
            # cut at an unencoded '/', '#' or '@'): for a uri it is never shown.
            fix = (
                "pymongo cannot parse the uri; percent-encode special characters in the "
                "user name and password (urllib.parse.quote_plus)"
                if p.uri is not None
                else redact(str(exc))
            )
            raise ConfigError(f"nodes[{self.index}]", "<redacted>", fix, show_value=False) from None

    def _setup(self) -> Collections:
        p = self.params
        client: MongoClient[Document] | None = None
        try:
            if p.uri is None and p.replica_set is not None:
                direct = self._new_client(directConnection=True)
                try:
                    ensure_replica_set(
                        direct,
                        index=self.index,
                        host=p.host,
                        port=p.port,
                        name=p.replica_set,
                        timeout=self._settings.replica_set_timeout,
                    )
                finally:
                    direct.close()
                client = self._new_client(replicaSet=p.replica_set)
            elif p.uri is None:
                client = self._new_client(directConnection=True)
            else:
                client = self._new_client()
            database = client[self._settings.database]
            found = Collections(
                queues=database["queues"], keys=database["keys"], locks=database["locks"]
            )
            found.queues.create_index(
                [("q", ASCENDING), ("p", ASCENDING), ("at", ASCENDING), ("_id", ASCENDING)],
                name=READY_INDEX,
            )
            found.locks.create_index("exp", name=LOCK_EXPIRY_INDEX, expireAfterSeconds=0)
        except BaseException:
            if client is not None:
                client.close()
            raise
        self._client = client
        return found

    def close(self) -> None:
        """Close the client; the node refuses further work."""
        with self._guard:
            self._closed = True
            client, self._client, self._collections = self._client, None, None
        if client is not None:
            client.close()
