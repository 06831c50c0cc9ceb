"""Scenario 5 for the config objects: ``Connector``, ``WorkerConfig`` and friends, the encoder.

Each case builds one object with one field wrong (it must raise a SergeantError
naming the field) or every field right (it must build; encoders must round-trip
values, and decoding random bytes must give a task or a ``TaskDecodeError``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sergeant
from fuzz_harness import Tally
from fuzz_values import NON_FINITE, bad, junk, positive_seconds, whole_at_least
from hypothesis import strategies as st
from sergeant.config import (
    Connector,
    Encoder,
    Logging,
    LoggingEvents,
    Starvation,
    Timeouts,
    WorkerConfig,
)
from sergeant.encoder import TaskEncoder
from sergeant.errors import TaskDecodeError
from sergeant.worker_config import MIN_LEASE_SECONDS

__all__ = ["ConfigCase", "config_cases", "run_config_case"]


@dataclass(frozen=True)
class ConfigCase:
    """Build ``cls(**kwargs)``; ``field`` empty means every value is good."""

    cls: Callable[..., Any]
    kwargs: dict[str, Any]
    field: str = ""

    def __repr__(self) -> str:
        name = getattr(self.cls, "__name__", repr(self.cls))
        shown = ", ".join(f"{k}={v!r}"[:80] for k, v in self.kwargs.items())
        return f"{name}({shown})" + (f" [bad {self.field}]" if self.field else "")


def _seconds_or_zero(value: Any) -> bool:
    return (value == 0 and not isinstance(value, bool)) or positive_seconds(value)


def _instance(cls: type) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, cls)


_BOOL: tuple[Any, ...] = (lambda v: isinstance(v, bool), 0, 1, "yes", None)

#: cls -> field -> (good predicate, extra bad values...)
FIELDS: dict[Callable[..., Any], dict[str, tuple[Any, ...]]] = {
    WorkerConfig: {
        "name": (lambda v: isinstance(v, str) and v != "" and "\x00" not in v, "", "a\x00b"),
        "connector": (_instance(Connector), {"type": "local"}),
        "max_tasks_per_run": (whole_at_least(0), -1, 1.5),
        "max_retries": (whole_at_least(0), -1, "3"),
        "tasks_per_transaction": (whole_at_least(1), 0, -5),
        "number_of_threads": (whole_at_least(1), 0, 2.0),
        "encoder": (_instance(Encoder), "msgpack", {"serializer": "json"}),
        "timeouts": (_instance(Timeouts), 5, {"timeout": 1}),
        "logging": (_instance(Logging), logging.ERROR),
        "starvation": (lambda v: v is None or isinstance(v, Starvation), 5),
        "delivery": (lambda v: v in ("at_least_once", "at_most_once"), "exactly_once", ""),
        "max_deliveries": (whole_at_least(1), 0, -1),
        "lease_seconds": (
            lambda v: positive_seconds(v) and v >= MIN_LEASE_SECONDS,
            0,
            0.05,
            -1,
            *NON_FINITE,
            "30",
        ),
    },
    Encoder: {
        "serializer": (lambda v: v in ("msgpack", "json", "pickle"), "yaml", "MSGPACK", ["json"]),
        "compressor": (
            lambda v: v is None or v in ("zlib", "gzip", "bzip2", "lzma"),
            "zip",
            "",
            {"zlib": 1},
        ),
    },
    Timeouts: {
        "timeout": (_seconds_or_zero, -1, *NON_FINITE, "10"),
        "grace_period": (_seconds_or_zero, -0.5, *NON_FINITE),
    },
    Starvation: {"time_with_no_tasks": (whole_at_least(1), 0, -1, 1.5)},
    Logging: {
        "level": (lambda v: isinstance(v, int) and not isinstance(v, bool), "INFO", 10.0),
        "log_to_stdout": _BOOL,
        "events": (_instance(LoggingEvents), {"on_success": True}),
        "handlers": (
            lambda v: isinstance(v, list) and all(isinstance(h, logging.Handler) for h in v),
            5,
            "stderr",
            [None],
        ),
    },
    LoggingEvents: dict.fromkeys(("on_success", "on_failure", "on_retry", "on_stop"), _BOOL),
}

_REQUIRED: dict[Callable[..., Any], dict[str, Any]] = {
    WorkerConfig: {"name": "fuzz"},
    Starvation: {"time_with_no_tasks": 5},
}

_HUGE = (2**64, 2**1100, 1e300)


def _good_values() -> dict[Callable[..., Any], dict[str, st.SearchStrategy[Any]]]:
    whole = st.integers(0, 10**6)
    return {
        WorkerConfig: {
            "name": st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s),
            "max_tasks_per_run": whole | st.sampled_from(_HUGE[:2]),
            "max_retries": whole,
            "tasks_per_transaction": st.integers(1, 10**4),
            "number_of_threads": st.integers(1, 64),
            "max_deliveries": st.integers(1, 100),
            "lease_seconds": st.floats(min_value=MIN_LEASE_SECONDS, max_value=1e9),
            "delivery": st.sampled_from(("at_least_once", "at_most_once")),
        },
        Timeouts: {
            "timeout": st.floats(min_value=0, max_value=1e6),
            "grace_period": st.floats(min_value=0, max_value=1e6),
        },
        Starvation: {"time_with_no_tasks": st.integers(1, 10**9)},
    }


class _NoCopy:
    """A param value deepcopy cannot copy (like a lock or an open file a user passes)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __repr__(self) -> str:
        return "<object holding a threading.Lock>"


@st.composite
def _one_wrong(draw: st.DrawFn) -> ConfigCase:
    cls = draw(st.sampled_from(list(FIELDS)))
    name = draw(st.sampled_from(sorted(FIELDS[cls])))
    good, *extra = FIELDS[cls][name]
    values = bad(good, *extra)
    if name == "lease_seconds":
        values = values | st.sampled_from(_HUGE)
    value = draw(values)
    if good(value):  # a huge lease is a number > 0: good
        return ConfigCase(cls, {**_REQUIRED.get(cls, {}), name: value})
    return ConfigCase(cls, {**_REQUIRED.get(cls, {}), name: value}, name)


@st.composite
def _all_good(draw: st.DrawFn) -> ConfigCase:
    values = _good_values()
    cls = draw(st.sampled_from(list(values)))
    kwargs = dict(_REQUIRED.get(cls, {}))
    for name, strategy in values[cls].items():
        if draw(st.booleans()):
            kwargs[name] = draw(strategy)
    return ConfigCase(cls, kwargs)


def _connector_type(value: Any) -> None:
    sergeant.connect(Connector(type=value, params={})).close()


@st.composite
def _connector_cases(draw: st.DrawFn) -> ConfigCase:
    shape = draw(st.sampled_from(("type", "unknown type", "params", "params key", "uncopyable")))
    if shape == "type":
        value = draw(bad(lambda v: isinstance(v, str) and v.strip() != "", "", "   "))
        return ConfigCase(Connector, {"type": value, "params": {}}, "Connector.type")
    if shape == "unknown type":
        value = draw(
            st.text(min_size=1, max_size=12).filter(
                lambda s: s.strip() and s not in ("local", "redis", "mongo", "memory")
            )
        )
        return ConfigCase(_connector_type, {"value": value}, repr(value))
    if shape == "params":
        value = draw(junk().filter(lambda v: v is not None and not isinstance(v, dict)))
        return ConfigCase(Connector, {"type": "local", "params": value}, "Connector.params")
    if shape == "params key":
        key = draw(junk().filter(lambda k: not isinstance(k, str) and _hashable(k)))
        return ConfigCase(Connector, {"type": "local", "params": {key: 1}}, "Connector.params")
    value = draw(st.sampled_from((_NoCopy(), (n for n in [{"host": "x"}]))))
    return ConfigCase(Connector, {"type": "redis", "params": {"nodes": value}}, "nodes")


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


@st.composite
def _encoder_cases(draw: st.DrawFn) -> tuple[str, str | None, Any, bytes]:
    serializer = draw(st.sampled_from(("msgpack", "json", "pickle")))
    compressor = draw(st.sampled_from((None, "zlib", "gzip", "bzip2", "lzma")))
    value: Any = draw(st.text() if serializer == "json" else st.binary() | st.text())
    junk_bytes = draw(st.binary(max_size=64))
    return serializer, compressor, value, junk_bytes


def config_cases() -> st.SearchStrategy[Any]:
    """Config objects with one field wrong or none, connector configs, encoder round trips."""
    return st.one_of(_one_wrong(), _one_wrong(), _all_good(), _connector_cases(), _encoder_cases())


def run_config_case(tally: Tally, case: Any) -> None:
    """Judge one case drawn from :func:`config_cases`."""
    if isinstance(case, tuple):
        serializer, compressor, value, junk_bytes = case
        example = (
            f"TaskEncoder({serializer!r}, {compressor!r}) on {value!r:.60} / {junk_bytes!r:.60}"
        )

        def trip() -> None:
            encoder = TaskEncoder(serializer, compressor)
            tally.check(
                encoder.decode(encoder.encode(value)) == value, "encoder round trip", example
            )
            if serializer != "pickle":  # unpickling junk is the documented hazard, not ours
                with contextlib.suppress(TaskDecodeError):
                    encoder.decode_task(junk_bytes)

        tally.expect_ok(example, trip)
        return
    if case.field:
        tally.expect_error(repr(case), (case.field,), lambda: case.cls(**case.kwargs))
    else:
        tally.expect_ok(repr(case), lambda: case.cls(**case.kwargs))
