"""One MongoDB node: its client, its one-time setup, and whether it is down.

A node is set up on first use (replica-set initiation when asked for, then the
indexes). A node whose server cannot be reached is *down* (its
:class:`~sergeant.nodes.Health`): callers skip it for ``retry_down_after``
seconds, doubled on each further failure (up to ten times), and try it again
after that.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from bson.errors import InvalidDocument
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import ConfigurationError, ConnectionFailure, OperationFailure, PyMongoError
from sergeant.errors import (
    AuthenticationError,
    ConfigError,
    ConnectorUnavailableError,
    StorageError,
)
from sergeant.nodes import Backoff, Health
from sergeant.redaction import is_secret_key, redact
from sergeant.validation import bracketed

from sergeant_mongo._clock import ServerClock
from sergeant_mongo._params import ENCODE, MongoParams, NodeParams
from sergeant_mongo._replica import ensure_replica_set

__all__ = ["Node"]

T = TypeVar("T")
#: A node's database: its ``queues``, ``keys`` and ``locks`` collections.
Db = Database[dict[str, Any]]

#: The index every pop and reserve walks: ready items in (priority, visible time, push order).
READY_INDEX = "sergeant_ready"
#: The TTL index that drops expired locks (reads also check expiry: the TTL monitor is slow).
LOCK_EXPIRY_INDEX = "sergeant_lock_expiry"
_AUTH_FAILED = frozenset({18, 13})  # AuthenticationFailed, Unauthorized


class Node:
    """Server (or uri deployment) ``params.nodes[index]``, one independent node of the connector."""

    def __init__(self, index: int, params: MongoParams, client_options: Mapping[str, Any]) -> None:
        self.index = index
        self.params = params.nodes[index]
        self.label = self.params.label
        self._settings = params
        self._client_options = client_options
        self._guard = threading.Lock()
        self._db: Db | None = None
        self._closed = False
        self.health = Health(Backoff(params.retry_down_after, params.retry_down_after * 10))
        self.clock = ServerClock()

    def run(self, operation: Callable[[Db], T]) -> T:
        """Run ``operation`` on this node's database, translating driver errors: the
        server cannot be reached (ConnectorUnavailableError, and the node is marked
        down), refused the credentials (AuthenticationError) or the operation (StorageError)."""
        node = f"mongo node {self.label}"
        try:
            result = operation(self._db if self._db is not None else self._setup())
        except ConnectionFailure as exc:
            self.health.failed()
            reason = redact(str(exc)).splitlines()[0][:300]
            raise ConnectorUnavailableError(
                f"{node} (nodes[{self.index}]) is unreachable: {reason}"
            ) from None
        except OperationFailure as exc:
            if exc.code in _AUTH_FAILED or "authentication failed" in str(exc).lower():
                if self.params.uri:
                    whose, check = "the uri's credentials", "the uri's user, password and options"
                else:
                    whose = f"the credentials of user {self.params.username!r}"
                    check = "username, password, auth_source and auth_mechanism"
                raise AuthenticationError(
                    f"{node} (nodes[{self.index}]) refused {whose}: check {check}"
                ) from None
            raise StorageError(f"{node} refused the operation: {redact(str(exc))[:300]}") from None
        except PyMongoError as exc:
            raise StorageError(f"{node}: {redact(str(exc))}") from None
        except InvalidDocument as exc:  # DocumentTooLarge too: not a PyMongoError
            raise StorageError(
                f"{node} cannot store the item: {str(exc)[:200]}; "
                "MongoDB documents are at most 16 MiB, so keep items well below that"
            ) from None
        self.health.succeeded()
        return result

    def _setup(self) -> Db:
        with self._guard:
            if self._closed:
                raise StorageError("the mongo connector is closed")
            if self._db is None:
                client = self._connect()
                try:
                    db = client[self._settings.database]
                    db.queues.create_index(
                        [("q", 1), ("p", 1), ("at", 1), ("_id", 1)], name=READY_INDEX
                    )
                    db.locks.create_index("exp", name=LOCK_EXPIRY_INDEX, expireAfterSeconds=0)
                    self.clock.sync(db)
                except BaseException:
                    client.close()
                    raise
                self._db = db
            return self._db

    def _connect(self) -> MongoClient[dict[str, Any]]:
        """A client as the params ask: direct to a standalone server, through the
        uri, or to replica set ``replica_set`` (initiated first if needed)."""
        p = self.params
        if p.uri is not None:
            return self._new_client()
        if p.replica_set is None:
            return self._new_client(directConnection=True)
        direct = self._new_client(directConnection=True)
        try:
            ensure_replica_set(
                direct,
                field=f"nodes[{self.index}].replica_set",
                address=f"{bracketed(p.host)}:{p.port}",
                name=p.replica_set,
                timeout=self._settings.replica_set_timeout,
            )
        finally:
            direct.close()
        return self._new_client(replicaSet=p.replica_set)

    def _new_client(self, **extra: Any) -> MongoClient[dict[str, Any]]:
        p = self.params
        timeout_ms = int(self._settings.connect_timeout * 1000)
        options: dict[str, Any] = {
            "serverSelectionTimeoutMS": timeout_ms,
            "connectTimeoutMS": timeout_ms,
            "tz_aware": True,
            "appname": "sergeant",
            **self._client_options,
            "host": p.uri,
        }
        if p.uri is None:
            given = {
                "host": bracketed(p.host),
                "port": p.port,
                "username": p.username,
                "password": p.password,
                "authSource": p.auth_source,
                "authMechanism": p.auth_mechanism,
                "tls": p.tls or None,
                "tlsCAFile": p.tls_ca_file,
                "tlsCertificateKeyFile": p.tls_certificate_key_file,
                "tlsCertificateKeyFilePassword": p.tls_certificate_key_file_password,
                "tlsAllowInvalidCertificates": (p.tls and p.tls_allow_invalid_certificates) or None,
                "tlsAllowInvalidHostnames": (p.tls and p.tls_allow_invalid_hostnames) or None,
            }
            options.update((key, value) for key, value in given.items() if value is not None)
        try:
            return MongoClient(**options, **extra)
        except (ConfigurationError, ValueError) as exc:  # a bad port in a uri: ValueError
            # pymongo's message may quote part of the uri (a port made of a password
            # cut at an unencoded '/', '#' or '@'): for a uri it is never shown.
            fix = f"pymongo cannot parse the uri; {ENCODE}" if p.uri else redact(str(exc))
            raise ConfigError(f"nodes[{self.index}]", "<redacted>", fix, show_value=False) from None
        except OSError as exc:  # a TLS file missing, unreadable, or not PEM (ssl.SSLError)
            raise _tls_file_error(self.index, p, exc) from None

    def close(self) -> None:
        """Close the client; the node refuses further work."""
        with self._guard:
            self._closed = True
            db, self._db = self._db, None
        if db is not None:
            db.client.close()


def _tls_file_error(index: int, p: NodeParams, exc: OSError) -> ConfigError:
    """The TLS file pymongo could not load, named by its field where there is one."""
    if p.uri is not None:
        fix = (
            f"a TLS file its options name cannot be used ({exc.strerror or exc}); check that "
            "tlsCAFile and tlsCertificateKeyFile name PEM files this process can read"
        )
        return ConfigError("uri", "<redacted>", fix, show_value=False)
    for name in ("tls_ca_file", "tls_certificate_key_file"):
        path = getattr(p, name)
        if path and not os.access(path, os.R_OK):
            fix = "no file this process can read is there; give the path of a PEM file"
            return ConfigError(
                f"nodes[{index}].{name}", path, fix, show_value=not is_secret_key(name)
            )
    fix = (
        f"they are not PEM files ssl can load ({exc}); give a CA certificate, and a "
        "certificate with its key"
    )
    return ConfigError(
        f"nodes[{index}].tls_ca_file or tls_certificate_key_file", None, fix, shown="as given"
    )
