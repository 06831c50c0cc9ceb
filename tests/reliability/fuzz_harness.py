"""Scenario 5's verdict keeping: run each fuzzed case under a time bound and judge it.

A :class:`Tally` counts the examples of one fuzz target and the exception types
they raised, and keeps each distinct *finding* with the shortest example that
showed it. Findings are collected instead of failing at the first one, so one
run reports every distinct bug; the test asserts there are none at the end.

Kinds of finding: ``wrong type`` (an exception that is not a
:class:`sergeant.errors.SergeantError`), ``no field`` (a SergeantError whose
message does not name the field), ``accepted`` (a bad value raised nothing),
``hang`` (a call outlived its bound), ``good failed`` (a good case raised),
``round trip`` (a good case came back different) and ``secret shown``.
"""

from __future__ import annotations

import contextlib
import re
import signal
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sergeant.errors import SergeantError

__all__ = ["Finding", "Hang", "Tally", "bounded"]

#: Seconds one call may take before it counts as a hang (good calls are tiny).
CALL_BOUND = 2.0


class Hang(BaseException):
    """Raised into a call that outlived its bound (a BaseException: ``except Exception``
    inside the call cannot swallow it)."""


@contextlib.contextmanager
def bounded(seconds: float) -> Iterator[None]:
    """Interrupt the block with :class:`Hang` after ``seconds`` (main thread, POSIX)."""

    def ring(_signum: int, _frame: Any) -> None:
        raise Hang(f"no answer after {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _any_index(field: str) -> str:
    """``nodes[2].host`` -> ``nodes[i].host``: one finding whichever entry showed it."""
    return re.sub(r"\[\d+\]", "[i]", field)


def _site(exc: BaseException) -> str:
    """Where the exception came from: the innermost frame in sergeant's own code."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/sergeant" in f.filename and "/tests/" not in f.filename]
    if not (ours or frames):
        return "?"
    frame = (ours or frames)[-1]
    parts = Path(frame.filename).parts
    short = "/".join(parts[-2:])
    return f"{short}:{frame.lineno} ({frame.name})"


@dataclass
class Finding:
    """One distinct problem and the shortest example that showed it."""

    kind: str
    what: str
    example: str
    count: int = 0

    def __str__(self) -> str:
        return f"[{self.kind}] {self.what} -- e.g. {self.example} ({self.count}x)"


@dataclass
class Tally:
    """Counts and findings of one fuzz target."""

    target: str
    examples: int = 0
    good: int = 0
    bad: int = 0
    types: Counter[str] = field(default_factory=Counter)
    findings: dict[tuple[str, str], Finding] = field(default_factory=dict)

    def find(self, kind: str, what: str, example: str) -> None:
        """Note a finding; keep the shortest example."""
        found = self.findings.setdefault((kind, what), Finding(kind, what, example))
        found.count += 1
        if len(example) < len(found.example):
            found.example = example

    def expect_error(
        self, example: str, fields: tuple[str, ...], call: Callable[[], Any], secret: Any = None
    ) -> Any:
        """A bad case: ``call`` must raise a SergeantError naming one of ``fields``."""
        self.examples += 1
        self.bad += 1
        try:
            with bounded(CALL_BOUND):
                result = call()
        except Hang:
            self.find("hang", f"{_any_index(fields[0])}: no answer after {CALL_BOUND:g}s", example)
            return None
        except Exception as exc:
            self._judge(example, fields, exc, secret)
            return None
        self.find("accepted", f"{_any_index(fields[0])} accepted a bad value", example)
        return result

    def expect_either(self, example: str, field_name: str, call: Callable[[], Any]) -> Any:
        """A borderline case: success, or a SergeantError naming ``field_name``."""
        self.examples += 1
        try:
            with bounded(CALL_BOUND):
                return call()
        except Hang:
            self.find("hang", f"{field_name}: no answer after {CALL_BOUND:g}s", example)
        except Exception as exc:
            self._judge(example, (field_name,), exc, None)
        return None

    def expect_ok(self, example: str, call: Callable[[], Any], bound: float = CALL_BOUND) -> Any:
        """A good case: ``call`` must return (its result), raising nothing."""
        self.examples += 1
        self.good += 1
        try:
            with bounded(bound):
                return call()
        except Hang:
            self.find("hang", f"good call: no answer after {bound:g}s", example)
        except Exception as exc:
            self.types[type(exc).__name__] += 1
            self.find(
                "good failed", f"{type(exc).__name__} at {_site(exc)}", f"{example} -> {exc}"[:300]
            )
        return None

    def check(self, ok: bool, what: str, example: str) -> None:
        """A good case's result: a False ``ok`` is a round-trip finding."""
        if not ok:
            self.find("round trip", what, example)

    def _judge(
        self, example: str, fields: tuple[str, ...], exc: BaseException, secret: Any
    ) -> None:
        self.types[type(exc).__name__] += 1
        if not isinstance(exc, SergeantError):
            self.find(
                "wrong type", f"{type(exc).__name__} at {_site(exc)}", f"{example} -> {exc}"[:300]
            )
            return
        message = str(exc)
        if not any(name in message for name in fields):
            self.find(
                "no field",
                f"{type(exc).__name__} at {_site(exc)} without {_any_index(fields[0])!r}",
                f"{example} -> {message}"[:300],
            )
        if isinstance(secret, str) and len(secret) >= 4 and secret in message:
            self.find("secret shown", f"{fields[0]} shown in the message", example)

    def summary(self) -> str:
        """One sentence for the report."""
        kinds = ", ".join(f"{name} {count}" for name, count in sorted(self.types.items()))
        return (
            f"{self.target}: {self.examples} cases ({self.bad} bad, {self.good} good); "
            f"exceptions seen: {kinds or 'none'}; {len(self.findings)} findings"
        )
