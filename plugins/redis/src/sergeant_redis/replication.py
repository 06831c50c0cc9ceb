"""``min_replicas``: a write returns only once that many replicas have it.

Redis replicates asynchronously: a primary acknowledges a write before any
replica has it, so when the primary dies and a replica is promoted (Sentinel,
or by hand) the writes the replica had not received are lost. With
``min_replicas=N`` every write a node makes for the connector (pushes, acks,
releases, extends, ``key_set``, ``key_delete``, locks, queue deletes...) is
followed, in the same round trip, by ``WAIT N timeout_ms``: Redis answers once
N replicas have every write this connection made, or at the timeout
(``min_replicas_timeout`` seconds) with how many did.

Fewer than N: the call raises :class:`ReplicationError`, a
:class:`~sergeant.errors.ConnectorUnavailableError`. The write **was made on
the primary** and is not undone; it is reported as failed because it may not
survive a failover. A producer that retries the push may store the item
twice (at-least-once, as after any connection error); one that does not
retry may lose it only if the primary then dies before a replica gets it.

Not waited for: reads; and the calls that hand items out (pops, reserves,
``queue_ack_and_reserve``, and whatever a worker sends ahead of time through
:meth:`Node.script_later <sergeant_redis.node.Node.script_later>`). Failing
one of those after the primary ran it would lose the popped items (or hold
reserved ones until their lease ends), while a failover that loses it only
puts the items back: they are delivered again, never lost. The next waited
write waits for them too (``WAIT`` counts every earlier write of the
connection).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sergeant.errors import ConnectorUnavailableError

from sergeant_redis.scripts import Script

__all__ = [
    "UNWAITED_COMMANDS",
    "UNWAITED_SCRIPTS",
    "ReplicationError",
    "command_writes",
    "script_writes",
    "wait_command",
]

#: Commands not waited for (upper case): they change nothing, or hand items out.
UNWAITED_COMMANDS = frozenset(
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
        # They hand items out: see the module's docstring.
        "LPOP",
        "RPOP",
        "LMPOP",
    }
)
#: Scripts (by :attr:`Script.name`) not waited for: they change nothing (or only
#: throw-away keys), or they hand items out (see the module's docstring).
UNWAITED_SCRIPTS = frozenset(
    {"length", "stats", "probe", "maintain", "pop", "pop_one", "reserve", "ack_reserve"}
)


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
    return _name(name) not in UNWAITED_COMMANDS


def script_writes(script: Script) -> bool:
    """Whether ``script`` may change data."""
    return script.name not in UNWAITED_SCRIPTS


def pipeline_writes(commands: Sequence[Sequence[Any]]) -> bool:
    """Whether ``commands`` should be waited for: one may change data, and none
    hands items out (the pop pipeline's maintain script is then not waited for)."""
    names = [command[0] for command in commands]
    if any(_name(name) in ("LPOP", "RPOP", "LMPOP") for name in names):
        return False
    return any(command_writes(name) for name in names)


def _name(name: Any) -> str:
    return (name.decode() if isinstance(name, bytes) else str(name)).upper()


def wait_command(replicas: int, timeout: float) -> tuple[str, int, int]:
    """``WAIT replicas timeout_ms`` (at least 1 ms: 0 would wait forever)."""
    return ("WAIT", replicas, max(1, round(timeout * 1000)))
