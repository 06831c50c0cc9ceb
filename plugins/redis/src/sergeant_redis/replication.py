"""``min_replicas``: a write returns only once that many replicas have it.

Redis replicates asynchronously: a primary acknowledges a write before any
replica has it, so when the primary dies and a replica is promoted (Sentinel,
or by hand) the writes the replica had not received are lost. With
``min_replicas=N`` every write a node makes for the connector (pushes, acks,
releases, extends, pops, reserves, ``key_set``, locks, deletes...) is followed,
in the same round trip, by ``WAIT N timeout_ms``: Redis answers once N replicas
have every write this connection made, or at the timeout
(``min_replicas_timeout`` seconds) with how many did.

Fewer than N: the call raises :class:`ReplicationError`, a
:class:`~sergeant.errors.ConnectorUnavailableError`. The write **was made on
the primary** and is not undone; it is reported as failed because it may not
survive a failover. A producer that retries the push may store the item
twice (at-least-once, as after any connection error); one that does not
retry may lose it only if the primary then dies before a replica gets it.

Not waited for: reads, and the reserves and acks a worker sends ahead of
time (:meth:`Node.script_later <sergeant_redis.node.Node.script_later>`,
prefetch): losing one of those on failover delivers a task again, never
loses one; and the next waited write waits for them too (``WAIT`` counts
every earlier write of the connection).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sergeant.errors import ConnectorUnavailableError

from sergeant_redis.scripts import Script

__all__ = [
    "READ_COMMANDS",
    "READ_SCRIPTS",
    "ReplicationError",
    "command_writes",
    "script_writes",
    "wait_command",
]

#: Commands that change nothing (upper case): no ``WAIT`` after them.
READ_COMMANDS = frozenset(
    {
        "GET",
        "MGET",
        "EXISTS",
        "TYPE",
        "TTL",
        "PTTL",
        "SCAN",
        "LINDEX",
        "LLEN",
        "LRANGE",
        "ZRANGE",
        "ZCARD",
        "HGET",
        "HGETALL",
        "HLEN",
        "SCARD",
        "TIME",
        "PING",
        "INFO",
        "ROLE",
        "SCRIPT",
        "WAIT",
        "CLIENT",
    }
)
#: Scripts (by :attr:`Script.name`) that change nothing, or only throw-away keys.
READ_SCRIPTS = frozenset({"length", "stats", "probe"})


class ReplicationError(ConnectorUnavailableError):
    """Fewer replicas than ``min_replicas`` acknowledged a write in time.

    The write was made on the primary (it is not undone) but may be lost if
    the primary fails now."""

    def __init__(self, label: str, acknowledged: int, wanted: int, timeout: float) -> None:
        self.acknowledged = acknowledged
        self.wanted = wanted
        super().__init__(
            f"redis node {label}: {acknowledged} of the {wanted} replicas min_replicas asks "
            f"for acknowledged a write within {timeout:g} s; the write was made on the "
            "primary but may be lost if it fails now (a retry may store it twice); check "
            "that the replicas are up and connected (INFO replication), or raise "
            "min_replicas_timeout, or lower min_replicas"
        )


def command_writes(name: Any) -> bool:
    """Whether the command ``name`` (str or bytes) may change data."""
    text = name.decode() if isinstance(name, bytes) else str(name)
    return text.upper() not in READ_COMMANDS


def script_writes(script: Script) -> bool:
    """Whether ``script`` may change data."""
    return script.name not in READ_SCRIPTS


def pipeline_writes(commands: Sequence[Sequence[Any]]) -> bool:
    """Whether any of ``commands`` may change data."""
    return any(command_writes(command[0]) for command in commands)


def wait_command(replicas: int, timeout: float) -> tuple[str, int, int]:
    """``WAIT replicas timeout_ms`` (at least 1 ms: 0 would wait forever)."""
    return ("WAIT", replicas, max(1, round(timeout * 1000)))
