"""Bring a node given a ``replica_set`` to a writable one-member replica set.

A server started with ``--replSet NAME`` but never initiated says so in its
``hello`` reply (``isreplicaset: true`` and no ``setName``); the connector then
runs ``replSetInitiate`` with the server itself as the only member and waits,
bounded, for it to become primary. A server already in the set is left as it
is (the driver finds the set's primary, which may be another member). A server
started without ``--replSet`` cannot become a member: the error says how to
start it.
"""

from __future__ import annotations

import time
from typing import Any

from pymongo import MongoClient
from pymongo.errors import OperationFailure
from sergeant.errors import ConfigError, StorageError

__all__ = ["ensure_replica_set"]

_ALREADY_INITIALIZED = 23
_POLL_SECONDS = 0.2


def ensure_replica_set(
    client: MongoClient[Any], *, field: str, address: str, name: str, timeout: float
) -> None:
    """Make the server at ``address`` (``client``: a direct connection) a member of
    replica set ``name``, or raise ConfigError (standalone, or in another set) or
    StorageError (no primary elected within ``timeout`` seconds)."""
    hello = client.admin.command("hello")
    start = f"start it with 'mongod --replSet {name}'"
    if hello.get("setName"):
        if hello["setName"] != name:
            found = hello["setName"]
            fix = f"the server at {address} belongs to replica set {found!r}: use that name"
            raise ConfigError(field, name, fix)
        return
    if not hello.get("isreplicaset"):
        raise ConfigError(
            field,
            name,
            f"the server at {address} was not started as a replica set member: {start} "
            f"(or replication.replSetName: {name} in mongod.conf), or remove replica_set "
            "from this node to use it standalone",
        )
    config = {"_id": name, "members": [{"_id": 0, "host": address}]}
    try:
        client.admin.command("replSetInitiate", config)
    except OperationFailure as exc:
        if exc.code != _ALREADY_INITIALIZED:
            reason = (exc.details or {}).get("errmsg", str(exc))
            fix = f"the server at {address} refused replSetInitiate ({reason}): {start}"
            raise ConfigError(field, name, fix) from None
    deadline = time.monotonic() + timeout
    while True:
        hello = client.admin.command("hello")
        if hello.get("setName") == name and hello.get("isWritablePrimary"):
            return
        if time.monotonic() >= deadline:
            raise StorageError(
                f"replica set {name!r} at {address} has no primary after {timeout:g} s; "
                "check the server's log, or raise the connector's replica_set_timeout"
            )
        time.sleep(_POLL_SECONDS)
