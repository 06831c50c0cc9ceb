"""Bring a node given a ``replica_set`` to a writable one-member replica set.

A server started with ``--replSet NAME`` but never initiated says so in its
``hello`` reply (``isreplicaset: true`` and no ``setName``); the connector then
runs ``replSetInitiate`` with the server itself as the only member and waits,
bounded, for it to become primary. A server started without ``--replSet``
cannot become a member: the error says how to start it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from pymongo import MongoClient
from pymongo.errors import OperationFailure
from sergeant.errors import ConfigError, StorageError

__all__ = ["ensure_replica_set"]

_ALREADY_INITIALIZED = 23
_POLL_SECONDS = 0.2


def _state(hello: Mapping[str, Any]) -> str:
    if hello.get("setName"):
        return "member"
    if hello.get("isreplicaset"):
        return "uninitiated"
    return "standalone"


def ensure_replica_set(
    client: MongoClient[Any], *, index: int, host: str, port: int, name: str, timeout: float
) -> None:
    """Make sure the server behind ``client`` (a direct connection) is in replica set ``name``.

    A server with no configuration yet gets a one-member set, and this waits until
    it is primary; a server already in the set is left as it is.

    :raises ConfigError: the server is standalone or belongs to another replica set.
    :raises StorageError: a new set did not elect its primary within ``timeout`` seconds.
    """
    field = f"nodes[{index}].replica_set"
    hello = client.admin.command("hello")
    state = _state(hello)
    if state == "standalone":
        raise ConfigError(
            field,
            name,
            f"the server at {host}:{port} was not started as a replica set member: "
            f"start it with 'mongod --replSet {name}' (or replication.replSetName: {name} "
            "in mongod.conf), or remove replica_set from this node to use it standalone",
        )
    if state == "member":
        if hello["setName"] != name:
            raise ConfigError(
                field,
                name,
                f"the server at {host}:{port} belongs to replica set {hello['setName']!r}: "
                "use that name",
            )
        # a member already: the driver finds the set's primary (it may be another member)
        return
    else:
        config = {"_id": name, "members": [{"_id": 0, "host": f"{host}:{port}"}]}
        try:
            client.admin.command("replSetInitiate", config)
        except OperationFailure as exc:
            if exc.code != _ALREADY_INITIALIZED:
                reason = (exc.details or {}).get("errmsg", str(exc))
                raise ConfigError(
                    field,
                    name,
                    f"the server at {host}:{port} refused replSetInitiate ({reason}): "
                    f"start it with 'mongod --replSet {name}'",
                ) from None
    _wait_for_primary(client, name=name, timeout=timeout, where=f"{host}:{port}")


def _wait_for_primary(client: MongoClient[Any], *, name: str, timeout: float, where: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        hello = client.admin.command("hello")
        if hello.get("setName") == name and hello.get("isWritablePrimary"):
            return
        if time.monotonic() >= deadline:
            raise StorageError(
                f"replica set {name!r} at {where} has no primary after {timeout:g} s; "
                "check the server's log, or raise the connector's replica_set_timeout"
            )
        time.sleep(_POLL_SECONDS)
