"""The Lua scripts: every multi-step queue operation is one script call per node.

The Lua lives in ``lua/*.lua`` next to this module (package data), one file per
script, read once at import. Shared Lua is in files whose names start with
``_`` (``_lib.lua``: the queue helpers; ``_now.lua``; ``_due.lua``: the
``next_due`` hint; ``_counts.lua``; ``_maintain_first.lua``), pulled in by a
line ``-- include: <file>`` that the loader replaces with that file's text
(recursively). Each script file's header says its KEYS, ARGV and reply.

Every queue script receives the same nine keys (:data:`KEY_PARTS`, in order).
What each key holds, and the keys the scripts reach without KEYS, is the key
layout in the plugin's README ("Key layout"; ``tests/test_key_layout.py``
checks it against a server). Time is the server's (``redis.call('TIME')``):
leases, delays and the "is it due" checks never depend on client clocks.
``consumable_from`` arrives as the delay it means on the client's clock
(``consumable_from - time.time()``) and is added to that server time.
"""

from __future__ import annotations

import hashlib
import re
from importlib.resources import files

import attrs

__all__ = [
    "ACK",
    "ACK_RESERVE",
    "DELETE",
    "EXTEND",
    "KEY_PARTS",
    "LENGTH",
    "LOCK_RELEASE",
    "LOCK_SET_TTL",
    "MAINTAIN",
    "POP",
    "POP_ONE",
    "PUSH_DELAYED",
    "RELEASE",
    "RESERVE",
    "STATS",
    "Script",
    "load",
    "lua_source",
]

#: The per-queue keys, suffixes of ``sergeant:queue:<name>:``, in KEYS order
#: (``KEYS[1]`` is ``retry_high``); what each holds: the README's key layout.
KEY_PARTS = (
    "retry_high",
    "high",
    "retry_normal",
    "normal",
    "delayed",
    "leases",
    "batches",
    "seq",
    "next_due",
)


@attrs.frozen
class Script:
    """A Lua script and its SHA1 (what EVALSHA sends)."""

    name: str
    source: str
    sha: str = attrs.field(init=False)

    @sha.default
    def _sha(self) -> str:
        return hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()


_LUA = files("sergeant_redis").joinpath("lua")
_INCLUDE = re.compile(r"^[ \t]*-- include: (\S+)[ \t]*\n", re.MULTILINE)


def lua_source(file: str, _including: tuple[str, ...] = ()) -> str:
    """The text of ``lua/<file>`` with its ``-- include:`` lines resolved."""
    if file in _including:
        raise ValueError(f"Lua include cycle: {' -> '.join((*_including, file))}")
    text = _LUA.joinpath(file).read_text(encoding="utf-8")
    return _INCLUDE.sub(lambda line: lua_source(line[1], (*_including, file)), text)


def load(name: str) -> Script:
    """The script in ``lua/<name>.lua``."""
    return Script(name, lua_source(f"{name}.lua"))


MAINTAIN = load("maintain")
POP_ONE = load("pop_one")
POP = load("pop")
RESERVE = load("reserve")
ACK = load("ack")
ACK_RESERVE = load("ack_reserve")
RELEASE = load("release")
EXTEND = load("extend")
PUSH_DELAYED = load("push_delayed")
LENGTH = load("length")
STATS = load("stats")
DELETE = load("delete")
LOCK_RELEASE = load("lock_release")
LOCK_SET_TTL = load("lock_set_ttl")
