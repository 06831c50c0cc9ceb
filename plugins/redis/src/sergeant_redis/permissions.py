"""A one-time check that the server lets this user run every command the scripts use.

A Lua script that hits a command its ACL user may not run stops there, and
Redis keeps what the script already did: a reserve that popped items and is then
refused ``HSET`` would drop them. So before its first script call a node runs
:data:`PROBE`, which calls each command (:data:`PROBED`) on throw-away keys
under ``sergeant:probe:`` with ``redis.pcall`` and returns those refused; the
connector refuses to go on, naming them, before any item is touched.

:data:`OPTIONAL` commands are probed too but only make a faster path possible:
without ``SORT`` (an ACL ``@dangerous`` command), ``LTRIM`` or ``COPY`` a
reserve passes its items through Lua instead of copying them natively.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
from sergeant.errors import StorageError

from sergeant_redis.scripts import Script

__all__ = [
    "OPTIONAL",
    "PROBE",
    "PROBED",
    "PROBE_KEY_PREFIX",
    "READ_ONLY",
    "Probe",
    "check_probe",
    "read_probe",
]

PROBE_KEY_PREFIX = "sergeant:probe:"

# (command, its arguments): K1..K5 are the string, list, hash, zset and set probe keys.
_CALLS: tuple[tuple[str, str], ...] = (
    ("DEL", "K1, K2, K3, K4, K5"),
    ("TIME", ""),
    ("INCR", "K1"),
    ("INCRBY", "K1, 1"),
    ("EXPIRE", "K1, 60"),
    ("SET", "K1, '1', 'PX', 60000"),
    ("GET", "K1"),
    ("EXISTS", "K1"),
    ("RPUSH", "K2, 'a', 'b', 'c'"),
    ("LLEN", "K2"),
    ("LRANGE", "K2, 0, -1"),
    ("LPOP", "K2"),
    ("LMPOP", "1, K2, 'LEFT', 'COUNT', 1"),
    ("HSET", "K3, 'f', 'v', 'g', 'w'"),
    ("HGET", "K3, 'f'"),
    ("HMGET", "K3, 'f', 'g'"),
    ("HGETALL", "K3"),
    ("HEXISTS", "K3, 'f'"),
    ("HLEN", "K3"),
    ("HDEL", "K3, 'f'"),
    ("ZADD", "K4, 1, 'm', 2, 'n'"),
    ("ZCARD", "K4"),
    ("ZCOUNT", "K4, '-inf', '+inf'"),
    ("ZSCORE", "K4, 'm'"),
    ("ZRANGE", "K4, 0, -1"),
    ("ZRANGEBYSCORE", "K4, '-inf', '+inf'"),
    ("ZREM", "K4, 'm'"),
    ("SADD", "K5, 'a', 'b'"),
    ("SCARD", "K5"),
    ("SMEMBERS", "K5"),
    ("SORT", "K2, 'BY', 'nosort', 'LIMIT', 0, 1, 'STORE', K2"),
    ("LTRIM", "K2, 1, -1"),
    ("COPY", "K2, K5, 'REPLACE'"),
    ("DEL", "K1, K2, K3, K4, K5"),
)

#: Probed commands the connector can do without (see the module's docstring).
OPTIONAL = frozenset({"SORT", "LTRIM", "COPY"})

#: Every command the probe tries: each one any queue, key or lock script calls.
PROBED = frozenset(command for command, _ in _CALLS)


def _probe_source() -> str:
    lines = [
        "local K1, K2, K3, K4, K5 = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]",
        "local refused, seen = {}, {}",
        "local function try(cmd, ...)",
        "  local reply = redis.pcall(cmd, ...)",
        "  if type(reply) == 'table' and reply.err and not seen[cmd] then",
        "    seen[cmd] = true",
        "    refused[#refused + 1] = cmd",
        "    refused[#refused + 1] = reply.err",
        "  end",
        "end",
    ]
    for command, arguments in _CALLS:
        lines.append(f"try('{command}'{', ' + arguments if arguments else ''})")
    lines.append("return refused")
    return "\n".join(lines) + "\n"


_ACL_ERR = "can't run this command"


@attrs.frozen
class Probe:
    """What the probe found: ``refused``, needed commands the ACL user may not
    run; ``missing``, needed commands the server does not know (older than
    Redis 7.0); ``read_only``, the server is a replica that takes no writes;
    ``native_copy``, every :data:`OPTIONAL` command is allowed."""

    refused: list[str]
    missing: list[str]
    read_only: bool
    native_copy: bool


def read_probe(reply: Sequence[Any]) -> Probe:
    """The probe's reply: pairs of a failed command's name and its error (bytes
    or str). Other failures (``OOM`` on a server at ``maxmemory``) say nothing
    of what the user may run."""
    text = [r.decode(errors="replace") if isinstance(r, bytes) else str(r) for r in reply]
    failed = list(zip(text[::2], text[1::2], strict=True))
    # Redis 7.0 words an ACL refusal inside a script as an ERR, later ones as NOPERM.
    acl = [name for name, error in failed if error.startswith("NOPERM") or _ACL_ERR in error]
    unknown = [name for name, error in failed if "unknown command" in error.lower()]
    return Probe(
        refused=[name for name in acl if name not in OPTIONAL],
        missing=[name for name in unknown if name not in OPTIONAL],
        read_only=any(error.startswith("READONLY") for _, error in failed),
        native_copy=not OPTIONAL.intersection(acl + unknown),
    )


#: Why a replica cannot serve as a node, and the fix.
READ_ONLY = (
    "is a read-only replica; list its primary instead (or the Sentinel service that "
    "names the primary: README, 'Independent nodes, Sentinel or Cluster')"
)


def check_probe(probe: Probe, who: str, refused: Callable[[str], StorageError]) -> None:
    """Raise what keeps the probed server from serving sergeant: a read-only
    replica or a server without Redis 7's commands (``who`` names it: "redis
    node …"), else ACL refusals (``refused`` words them, given their names)."""
    if probe.read_only:
        raise StorageError(f"{who} {READ_ONLY}")
    if probe.missing:
        missing = ", ".join(probe.missing)
        raise StorageError(
            f"{who} does not know {missing}: sergeant-redis needs Redis 7.0 or later"
        )
    if probe.refused:
        raise refused(", ".join(probe.refused))


#: KEYS: five probe keys (string, list, hash, zset, set). Returns each failed
#: command's name and error, one after the other.
PROBE = Script("probe", _probe_source())
