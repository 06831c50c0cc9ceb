"""Hypothesis strategies for scenario 5: good, bad and borderline values of every input.

Each input has a *good* strategy (values the contract accepts, which must work
and round-trip), a *bad* one (values it rejects: a :class:`sergeant.errors.SergeantError`
naming the field is the only right answer) and, for some, a *borderline* one
(huge but well-typed values such as a lease of 1e300 seconds: either answer is
fine, but an error must still be a SergeantError naming the field).

Bad and borderline strategies yield ``(value, field)`` pairs, where ``field`` is
the text the error message must contain, e.g. ``"items[3]"`` or ``"nodes[0].port"``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

__all__ = [
    "API",
    "HUGE_FLOATS",
    "HUGE_INTS",
    "NON_FINITE",
    "Arg",
    "Call",
    "Params",
    "api_calls",
    "bad",
    "edge_calls",
    "junk",
    "local_params",
    "mongo_params",
    "names",
    "payloads",
    "positive_seconds",
    "redis_params",
    "redis_url_edges",
    "whole_at_least",
]

# Most extreme first: hypothesis favours the start of a sampled_from.
HUGE_INTS = (2**1100, 2**64, 2**63, 2**100, 2**53 + 1, 2**31)
HUGE_FLOATS = (1.7976931348623157e308, 1e300, 1e100, 1e15)
NON_FINITE = (math.nan, math.inf, -math.inf)


def _generator() -> Any:
    return (b for b in (b"a", b"b"))


def _view(data: bytes) -> memoryview:
    return memoryview(data)


def junk() -> SearchStrategy[Any]:
    """Values of every shape: wrong types, odd numbers, unicode, containers, objects."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from(HUGE_INTS + tuple(-n for n in HUGE_INTS)),
        st.floats(),
        st.sampled_from(NON_FINITE + HUGE_FLOATS + (-0.0, 5e-324)),
        st.text(max_size=12),
        st.binary(max_size=12),
        st.builds(bytearray, st.binary(max_size=6)),
        st.binary(max_size=6).map(_view),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
        st.tuples(st.text(max_size=3)),
        st.frozensets(st.integers(), max_size=2),
        st.builds(object),
        st.builds(_generator),
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    try:
        return _is_number(value) and math.isfinite(value)
    except OverflowError:
        return False


def _huge(value: Any) -> bool:
    return _is_number(value) and not isinstance(value, float) and abs(value) > 2**53


def bad(good: Callable[[Any], bool], *extra: Any) -> SearchStrategy[Any]:
    """Junk and ``extra`` values that ``good`` rejects (and that are not merely huge)."""
    pool = st.one_of(junk(), st.sampled_from(extra)) if extra else junk()
    return pool.filter(lambda v: not good(v) and not _huge(v))


# Predicates of the contract --------------------------------------------------------


def positive_seconds(value: Any) -> bool:
    return _finite(value) and value > 0


def whole_at_least(low: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low


def name_ok(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 1024 and "\x00" not in value


# Names and payloads -------------------------------------------------------------------


def names() -> SearchStrategy[str]:
    """Queue, key and lock names the contract accepts: any unicode but NUL, 1-1024 chars."""
    return st.one_of(
        st.text(min_size=1, max_size=40).filter(name_ok),
        st.text(alphabet="a:-_.{}* /\\", min_size=1, max_size=12),
        st.integers(min_value=1000, max_value=1024).map(lambda n: "q" * n),
    )


def bad_names() -> SearchStrategy[Any]:
    return st.one_of(
        bad(name_ok, "", "\x00", "queue\x00name", "x" * 1025, ["q"], {"q": 1}),
        st.text(min_size=1, max_size=8).map(lambda s: s + "\x00"),
    )


def payloads() -> SearchStrategy[bytes]:
    """Items: bytes of any content and length, empty and not UTF-8 included."""
    return st.one_of(
        st.binary(max_size=300),
        st.just(b""),
        st.sampled_from((b"\xff\xfe\xfd", b"\x00" * 10, b"\xc3\x28", "é€𝄞".encode())),
        st.integers(min_value=1, max_value=200_000).map(lambda n: b"\x80" * n),
    )


def bad_payloads() -> SearchStrategy[Any]:
    return bad(lambda v: isinstance(v, bytes), "text", bytearray(b"ab"), memoryview(b"ab"))


# Connector API calls ------------------------------------------------------------------


@dataclass(frozen=True)
class Arg:
    """How one argument of the API is drawn: good values, bad ``(value, field)`` pairs,
    and optionally borderline ``(value, field)`` pairs."""

    good: SearchStrategy[Any]
    bad: SearchStrategy[tuple[Any, str]]
    borderline: SearchStrategy[tuple[Any, str]] | None = None


def _named(strategy: SearchStrategy[Any], field: str) -> SearchStrategy[tuple[Any, str]]:
    return strategy.map(lambda value: (value, field))


def _past_or_none() -> SearchStrategy[float | None]:
    return st.one_of(
        st.none(),
        st.floats(min_value=0, max_value=time.time() - 3600),
        st.integers(min_value=-(2**40), max_value=0),
    )


def _bad_items() -> SearchStrategy[tuple[Any, str]]:
    """A list with one non-bytes element (the message names its index), or no list at all."""

    @st.composite
    def one_bad(draw: st.DrawFn) -> tuple[Any, str]:
        items = draw(st.lists(st.binary(max_size=20), max_size=5))
        index = draw(st.integers(min_value=0, max_value=len(items)))
        items.insert(index, draw(bad_payloads()))
        return items, f"items[{index}]"

    not_a_list = bad(
        lambda v: isinstance(v, list | tuple | frozenset) and all(isinstance(i, bytes) for i in v),
        "text",
        b"bytes",
        7,
    ).filter(lambda v: not hasattr(v, "__iter__") or isinstance(v, str | bytes))
    return st.one_of(one_bad(), _named(not_a_list, "items"))


def _bad_receipts() -> SearchStrategy[tuple[Any, str]]:
    @st.composite
    def one_bad(draw: st.DrawFn) -> tuple[Any, str]:
        receipts = draw(st.lists(st.text(max_size=10), max_size=3))
        index = draw(st.integers(min_value=0, max_value=len(receipts)))
        receipts.insert(index, draw(bad(lambda v: isinstance(v, str))))
        return receipts, f"receipts[{index}]"

    not_a_list = st.one_of(
        st.text(max_size=8), st.binary(max_size=8), st.none(), st.integers(), st.floats()
    )
    return st.one_of(one_bad(), _named(not_a_list, "receipts"))


def receipts_text() -> SearchStrategy[str]:
    """Receipts a caller might make up: garbage, and look-alikes of real ones."""
    digits = st.text(alphabet=st.characters(categories=["Nd", "No"]), min_size=1, max_size=4)
    return st.one_of(
        st.text(max_size=24),
        st.builds(lambda a, b: f"{a}:{b}", digits, st.text(max_size=8)),
        st.builds(lambda a, b: f"{a}.{b}", digits, digits),
        st.builds(lambda a, b: f"{a}.{b}", st.integers(0, 2**70), st.integers(0, 2**70)),
    )


def _seconds_arg(field: str, *, small: bool = False) -> Arg:
    high = 0.05 if small else 1e6
    return Arg(
        good=st.floats(min_value=0.001, max_value=high) | st.integers(1, max(1, int(high))),
        bad=_named(bad(positive_seconds, 0, -1, -0.5, "1", *NON_FINITE), field),
        borderline=_named(st.sampled_from(HUGE_INTS[:1] + HUGE_FLOATS + HUGE_INTS[1:]), field),
    )


API: dict[str, Arg] = {
    "queue_name": Arg(names(), _named(bad_names(), "queue_name")),
    "item": Arg(payloads(), _named(bad_payloads(), "item")),
    "items": Arg(st.lists(payloads(), max_size=8), _bad_items()),
    "priority": Arg(
        st.sampled_from(("HIGH", "NORMAL")),
        _named(bad(lambda v: v in ("HIGH", "NORMAL"), "high", "LOW", "Normal", ""), "priority"),
    ),
    "consumable_from": Arg(
        _past_or_none(),
        _named(bad(lambda v: v is None or _finite(v), *NON_FINITE, "now"), "consumable_from"),
        _named(
            st.sampled_from(HUGE_INTS[:1] + HUGE_FLOATS + HUGE_INTS[1:] + (-1e300,)),
            "consumable_from",
        ),
    ),
    "number_of_items": Arg(
        st.integers(1, 50),
        _named(bad(whole_at_least(1), 0, -1, 1.0, "3", True), "number_of_items"),
        _named(st.sampled_from(HUGE_INTS), "number_of_items"),
    ),
    "lease_seconds": _seconds_arg("lease_seconds"),
    "receipts": Arg(st.lists(receipts_text(), max_size=4), _bad_receipts()),
    "key": Arg(names(), _named(bad_names(), "key")),
    "value": Arg(payloads(), _named(bad_payloads(), "value")),
    "name": Arg(names(), _named(bad_names(), "name")),
    "ttl": Arg(
        st.integers(1, 10**6) | st.floats(min_value=1, max_value=1e6),
        _named(bad(lambda v: _finite(v) and v >= 1, 0, 0.5, -1, "60", *NON_FINITE), "ttl"),
        _named(st.sampled_from(HUGE_INTS[:1] + HUGE_FLOATS + HUGE_INTS[1:]), "ttl"),
    ),
    "timeout": Arg(
        st.floats(min_value=0, max_value=0.02) | st.just(0),
        # inf is a fine timeout (wait for ever, like None), so only nan and -inf are bad
        _named(
            bad(lambda v: v is None or v == math.inf or (_finite(v) and v >= 0), -1, -0.01)
            | st.sampled_from((math.nan, -math.inf)),
            "timeout",
        ),
    ),
    "check_interval": Arg(
        st.floats(min_value=0.001, max_value=0.01),
        _named(bad(positive_seconds, 0, -1, *NON_FINITE), "check_interval"),
    ),
}

#: Each call's arguments, in order (``lock.*`` act on ``connector.lock(name)``).
SIGNATURES: dict[str, tuple[str, ...]] = {
    "queue_push": ("queue_name", "item", "priority", "consumable_from"),
    "queue_push_bulk": ("queue_name", "items", "priority", "consumable_from"),
    "queue_pop": ("queue_name",),
    "queue_pop_bulk": ("queue_name", "number_of_items"),
    "queue_length": ("queue_name",),
    "queue_delete": ("queue_name",),
    "queue_reserve": ("queue_name", "number_of_items", "lease_seconds"),
    "queue_ack": ("queue_name", "receipts"),
    "queue_release": ("queue_name", "receipts", "consumable_from"),
    "queue_extend": ("queue_name", "receipts", "lease_seconds"),
    "key_set": ("key", "value"),
    "key_get": ("key",),
    "key_delete": ("key",),
    "lock.acquire": ("name", "timeout", "check_interval", "ttl"),
    "lock.set_ttl": ("name", "ttl"),
}


@dataclass(frozen=True)
class Call:
    """One API call: ``expect`` is ``good``, ``bad`` or ``borderline`` (in ``field``)."""

    method: str
    args: dict[str, Any]
    expect: str
    field: str = ""

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={_short(v)}" for k, v in self.args.items())
        return f"{self.method}({shown}) [{self.expect}{' ' + self.field if self.field else ''}]"


def _short(value: Any) -> str:
    if isinstance(value, bytes) and len(value) > 40:
        return f"<{len(value)} bytes {value[:12]!r}...>"
    if isinstance(value, str) and len(value) > 60:
        return f"<{len(value)} chars {value[:12]!r}...>"
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


@st.composite
def api_calls(draw: st.DrawFn) -> Call:
    """A call with all arguments good, or exactly one bad or borderline."""
    method = draw(st.sampled_from(sorted(SIGNATURES)))
    params = SIGNATURES[method]
    target = draw(st.sampled_from((None, *params)))
    args = {p: draw(API[p].good) for p in params if p != target}
    if target is None:
        return Call(method, args, "good")
    arg = API[target]
    kind = "bad"
    if arg.borderline is not None and draw(st.booleans()):
        kind = "borderline"
    chosen = arg.borderline if kind == "borderline" and arg.borderline is not None else arg.bad
    value, field = draw(chosen)
    args[target] = value
    if method == "lock.set_ttl" and _frees_the_lock(value):
        kind, field = "good", ""
    return Call(method, {p: args[p] for p in params}, kind, field)


def _frees_the_lock(ttl: Any) -> bool:
    """``set_ttl(0)`` is Sergeant's way to let a lock go: good there, bad for acquire."""
    return not isinstance(ttl, bool) and isinstance(ttl, int | float) and ttl == 0


#: A good value of each argument, for :func:`edge_calls`.
PLAIN: dict[str, Any] = {
    "queue_name": "edge",
    "item": b"\xffedge",
    "items": [b"\xffedge", b""],
    "priority": "NORMAL",
    "consumable_from": None,
    "number_of_items": 2,
    "lease_seconds": 30,
    "receipts": [],
    "key": "edge",
    "value": b"\xffedge",
    "name": "edge",
    "ttl": 5,
    "timeout": 0,
    "check_interval": 0.01,
}


def edge_calls() -> list[Call]:
    """Every call once per huge (borderline) and non-finite or negative (bad) value of
    each numeric argument, the rest plain: a deterministic sweep of the edges random
    draws reach only now and then."""
    calls = []
    for method, params in sorted(SIGNATURES.items()):
        for target in params:
            values = {
                "consumable_from": HUGE_INTS + HUGE_FLOATS + (-1e300, -(2**1100)),
                "number_of_items": HUGE_INTS,
                "lease_seconds": HUGE_INTS + HUGE_FLOATS,
                "ttl": HUGE_INTS + HUGE_FLOATS,
            }.get(target, ())
            for value in values:
                args = {p: value if p == target else PLAIN[p] for p in params}
                calls.append(Call(method, args, "borderline", target))
            for value in _EDGE_BAD.get(target, ()):
                args = {p: value if p == target else PLAIN[p] for p in params}
                if method == "lock.set_ttl" and _frees_the_lock(value):
                    calls.append(Call(method, args, "good"))
                else:
                    calls.append(Call(method, args, "bad", target))
        if "receipts" in params:
            args = {p: ODD_RECEIPTS if p == "receipts" else PLAIN[p] for p in params}
            calls.append(Call(method, args, "good"))
    return calls


#: Receipts a caller could make up that look numeric to ``str.isdigit`` but not to ``int``.
ODD_RECEIPTS = ["\u24f8:x", "\u00b2:1", "\u0660:zz", "9" * 30 + ":x", "1.2", "-1.-1", "0:", ":"]


#: Bad values every numeric argument meets in the sweep (NaN compares false with everything).
_EDGE_BAD: dict[str, tuple[Any, ...]] = {
    "consumable_from": NON_FINITE,
    "number_of_items": (0, -1, 1.5, math.nan),
    "lease_seconds": (*NON_FINITE, 0, -1),
    "ttl": (*NON_FINITE, 0, -1),
    "timeout": (math.nan, -math.inf, -1),
    "check_interval": (*NON_FINITE, 0, -1),
}


# Connector params ---------------------------------------------------------------------


@dataclass(frozen=True)
class Params:
    """Connector params with one field wrong (``field`` names it) or none (``field`` empty)."""

    type: str
    params: Any
    field: str
    secret: Any = None

    def __repr__(self) -> str:
        return f"Connector(type={self.type!r}, params={_short(self.params)}) [bad {self.field}]"


_BOOL = (lambda v: isinstance(v, bool), 0, 1, "true", "yes")
_OPT_STR = (lambda v: v is None or isinstance(v, str), 5, b"x")


def _port() -> tuple[Any, ...]:
    return (lambda v: whole_at_least(1)(v) and v <= 65535, 0, -1, 65536, 6379.0, "6379")


def _one_field_wrong(
    draw: st.DrawFn, fields: dict[str, tuple[Any, ...]], extra_bad: dict[str, tuple[Any, ...]]
) -> tuple[str, Any]:
    name = draw(st.sampled_from(sorted(fields)))
    good, *extra = fields[name]
    more = extra_bad.get(name, ())
    return name, draw(bad(good, *extra, *more))


_REDIS_NODE: dict[str, tuple[Any, ...]] = {
    "host": (lambda v: isinstance(v, str) and v != "", ""),
    "port": _port(),
    "password": _OPT_STR,
    "database": (lambda v: whole_at_least(0)(v) and v < 2**31, -1, 2**31, "0"),
    "username": _OPT_STR,
    "ssl": _BOOL,
    "ssl_cert_reqs": (lambda v: v in ("required", "optional", "none"), "REQUIRED", None),
    "ssl_check_hostname": _BOOL,
    "socket_timeout": (positive_seconds, 0, -1, *NON_FINITE),
    "socket_connect_timeout": (positive_seconds, 0, -1, *NON_FINITE),
    "url": (lambda v: v is None, 5, b"redis://x"),
}

_BAD_REDIS_URLS = (
    "http://localhost:6379",
    "redis://",
    "redis://:6379/0",
    "redis://localhost:99999/0",
    "redis://localhost:-1/0",
    "redis://localhost/x",
    "redis://localhost/0?db=1",
    "redis://localhost/²",
    "redis://localhost/٣x",
    "redis://[::1/0",
    "localhost:6379",
    "",
)


def redis_url_edges() -> list[Params]:
    """Every bad url of the list, alone and as ``{'url': ...}`` (a deterministic sweep)."""
    return [
        Params("redis", {"nodes": [node]}, "nodes[0]")
        for url in _BAD_REDIS_URLS
        for node in (url, {"url": url})
    ]


@st.composite
def redis_params(draw: st.DrawFn) -> Params:
    """``nodes`` params of the redis connector with exactly one thing wrong."""
    nodes: list[Any] = [
        {"host": "127.0.0.1", "port": 6379 + i} for i in range(draw(st.integers(1, 3)))
    ]
    index = draw(st.integers(0, len(nodes) - 1))
    shape = draw(st.sampled_from(("field", "field", "field", "url", "nodes", "entry", "unknown")))
    if shape == "field":
        name, value = _one_field_wrong(draw, _REDIS_NODE, {})
        if name == "url":  # alone: next to host and port any url is refused as ambiguous
            nodes[index] = {}
        nodes[index][name] = value
        secret = value if name == "password" else None
        return Params("redis", {"nodes": nodes}, f"nodes[{index}].{name}", secret)
    if shape == "url":
        url = draw(
            st.sampled_from(_BAD_REDIS_URLS) | st.text(max_size=20).filter(lambda s: "://" not in s)
        )
        nodes[index] = draw(st.sampled_from((url, {"url": url})))
        return Params("redis", {"nodes": nodes}, f"nodes[{index}]")
    if shape == "nodes":
        value = draw(
            st.sampled_from(([], (), {}, "redis://localhost", None, 0))
            | st.builds(lambda: (n for n in [{"host": "localhost"}]))
            | st.just({"host": "localhost", "port": 6379})
        )
        return Params("redis", {"nodes": value}, "nodes")
    if shape == "entry":
        nodes[index] = draw(bad(lambda v: isinstance(v, dict | str)))
        return Params("redis", {"nodes": nodes}, f"nodes[{index}]")
    known = {*_REDIS_NODE, "nodes", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_password"}
    key = draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in known))
    if draw(st.booleans()):
        nodes[index][key] = 1
        return Params("redis", {"nodes": nodes}, repr(key))
    return Params("redis", {"nodes": nodes, key: 1}, repr(key))


_MONGO_NODE: dict[str, tuple[Any, ...]] = {
    "host": (lambda v: isinstance(v, str) and v != "", ""),
    "port": _port(),
    "replica_set": (lambda v: v is None or (isinstance(v, str) and v != ""), ""),
    "auth_source": (lambda v: v is None or (isinstance(v, str) and v != ""), ""),
    "auth_mechanism": (lambda v: v is None or (isinstance(v, str) and v != ""), ""),
    "tls": _BOOL,
    "tls_ca_file": (lambda v: v is None or (isinstance(v, str) and v != ""), ""),
    "tls_allow_invalid_certificates": _BOOL,
    "tls_allow_invalid_hostnames": _BOOL,
    "uri": (lambda v: v is None, "", "http://x", "localhost:27017", 5),
}
_MONGO_TOP: dict[str, tuple[Any, ...]] = {
    "database": (
        lambda v: isinstance(v, str) and v != "" and not set('/\\. "$\x00') & set(v),
        "a.b",
        "a b",
        "$x",
    ),
    "connect_timeout": (positive_seconds, 0, -1, *NON_FINITE),
    "replica_set_timeout": (positive_seconds, 0, -1, *NON_FINITE),
    "retry_down_after": (positive_seconds, 0, -1, *NON_FINITE),
}


@st.composite
def mongo_params(draw: st.DrawFn) -> Params:
    """Params of the mongo connector with exactly one thing wrong (no server is reached)."""
    nodes: list[Any] = [
        {"host": "127.0.0.1", "port": 27017 + i} for i in range(draw(st.integers(1, 3)))
    ]
    index = draw(st.integers(0, len(nodes) - 1))
    params: dict[str, Any] = {"nodes": nodes, "connect_timeout": 0.2}
    shape = draw(st.sampled_from(("node", "node", "top", "nodes", "entry", "password")))
    if shape == "node":
        name, value = _one_field_wrong(draw, _MONGO_NODE, {})
        nodes[index][name] = value
        return Params("mongo", params, f"nodes[{index}].{name}")
    if shape == "top":
        name, value = _one_field_wrong(draw, _MONGO_TOP, {})
        params[name] = value
        return Params("mongo", params, name)
    if shape == "password":  # a password needs a username; a non-string one is never shown
        value = draw(st.text(min_size=1, max_size=10) | st.integers())
        nodes[index]["password"] = value
        field = "username" if isinstance(value, str) else f"nodes[{index}].password"
        return Params("mongo", params, field, value)
    if shape == "nodes":
        value = draw(st.sampled_from(([], (), {}, "mongodb://localhost", None, 0)))
        params["nodes"] = value
        return Params("mongo", params, "nodes")
    nodes[index] = draw(bad(lambda v: isinstance(v, dict)))
    return Params("mongo", params, f"nodes[{index}]")


@st.composite
def local_params(draw: st.DrawFn, folder: str) -> Params:
    """Params of the local connector with exactly one thing wrong; ``folder`` exists."""
    params: dict[str, Any] = {"file_path": f"{folder}/fuzz.sqlite3"}
    shape = draw(st.sampled_from(("file_path", "path", "busy", "synchronous", "unknown")))
    if shape == "file_path":
        value = draw(bad(lambda v: v is None or isinstance(v, str)))
        return Params("local", {**params, "file_path": value}, "file_path")
    if shape == "path":
        value = draw(
            st.sampled_from(
                (
                    "",
                    ":memory:",
                    "file:queue.db?mode=memory",
                    folder,
                    f"{folder}/missing/q.sqlite3",
                    f"{folder}/q\x00.sqlite3",
                    f"{folder}/{'n' * 300}.sqlite3",
                    f"{folder}/fuzz.sqlite3/inside",
                )
            )
        )
        return Params("local", {**params, "file_path": value}, "file_path")
    if shape == "busy":
        value = draw(bad(positive_seconds, 0, -1, *NON_FINITE) | st.sampled_from(HUGE_INTS[:1]))
        return Params("local", {**params, "busy_timeout_seconds": value}, "busy_timeout_seconds")
    if shape == "synchronous":
        value = draw(bad(lambda v: v in ("NORMAL", "FULL"), "normal", "OFF", "EXTRA", 1))
        return Params("local", {**params, "synchronous": value}, "synchronous")
    accepted = ("file_path", "busy_timeout_seconds", "synchronous")
    key = draw(st.text(min_size=1, max_size=12).filter(lambda k: k not in accepted))
    return Params("local", {**params, key: 1}, repr(key))
