"""``sergeant push``: push tasks onto a queue from the command line."""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from collections.abc import Iterator
from typing import Any

from sergeant._connect import connect
from sergeant.broker import Broker
from sergeant.cli._connector_option import (
    add_connector_options,
    connector_from_args,
    encoder_from_args,
    unreadable,
)
from sergeant.cli._progress import line_progress
from sergeant.cli._words import counted
from sergeant.errors import ConfigError, PartialPushError, StorageError
from sergeant.task import Task
from sergeant.validation import MAX_EPOCH

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "push",
        help="push tasks onto a queue",
        description="Push tasks: --kwargs JSON (repeatable), --count copies, or JSON lines"
        " from --file (- for stdin). Every line is checked before the first push; the"
        " copies are made and pushed 10,000 at a time, with progress on a terminal.",
    )
    parser.add_argument("queue", help="queue name (the worker's config name)")
    parser.add_argument(
        "--kwargs", action="append", default=[], metavar="JSON", help="a task's kwargs as JSON"
    )
    parser.add_argument(
        "--file", metavar="PATH", help="one kwargs JSON object per line (- = stdin)"
    )
    parser.add_argument("--count", type=int, default=1, help="push each task this many times")
    parser.add_argument("--priority", choices=("NORMAL", "HIGH"), default="NORMAL")
    parser.add_argument("--delay", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--trace-id", default=None)
    parser.add_argument("--json", action="store_true", help="print a JSON summary for scripts")
    add_connector_options(parser, encoder=True)
    parser.set_defaults(handler=run)


#: Tasks a push call carries (and the most held in memory at once).
CHUNK = 10_000


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(where, text[:60], f"not valid JSON ({exc.msg})") from exc
    except (ValueError, RecursionError) as exc:  # an int over 4,300 digits, deep nesting
        raise ConfigError(where, text[:60], unreadable(exc)) from None
    if not isinstance(value, dict):
        raise ConfigError(where, text[:60], "expected a JSON object of kwargs")
    return value


#: Characters a ``--file`` line may hold: a file with no newline (``/dev/zero``)
#: must not be read into memory whole.
MAX_LINE = 64 * 1024 * 1024


def _read_lines(path: str) -> list[dict[str, Any]]:
    try:
        handle = sys.stdin if path == "-" else open(path)  # noqa: SIM115
        with handle:
            lines = enumerate(iter(lambda: handle.readline(MAX_LINE + 1), ""), 1)
            return [
                _parse(_bounded(line, path, number), f"{path} line {number}")
                for number, line in lines
                if line.strip()
            ]
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError("--file", path, f"cannot be read ({reason})") from None


def _bounded(line: str, path: str, number: int) -> str:
    if len(line) > MAX_LINE:
        fix = f"is over {MAX_LINE:,} characters: expected one kwargs JSON object a line"
        raise ConfigError(f"{path} line {number}", line[:60], fix)
    return line


def _checked_delay(delay: float) -> float:
    if not math.isfinite(delay) or delay < 0 or time.time() + delay > MAX_EPOCH:
        fix = "expected seconds from now: a finite number >= 0 ending before year 10000"
        raise ConfigError("--delay", delay, fix)
    return delay


def _chunks(
    kwargs_list: list[dict[str, Any]], count: int, trace_id: str | None
) -> Iterator[list[Task]]:
    """The tasks, ``count`` copies of each in order, :data:`CHUNK` at a time."""
    now = time.time()
    copies = (kwargs for kwargs in kwargs_list for _ in range(count))
    while chunk := [
        Task(kwargs=kwargs, trace_id=trace_id, date=now)
        for kwargs in itertools.islice(copies, CHUNK)
    ]:
        yield chunk


def run(args: argparse.Namespace) -> int:
    kwargs_list = [_parse(text, "--kwargs") for text in args.kwargs]
    if args.file:
        kwargs_list += _read_lines(args.file)
    if not kwargs_list:
        kwargs_list = [{}]
    if args.count < 1:
        raise ConfigError("--count", args.count, "expected a whole number of at least 1")
    delay = _checked_delay(args.delay)
    try:  # bytes of another encoding in argv arrive as lone surrogates
        (args.trace_id or "").encode()
    except UnicodeEncodeError:
        raise ConfigError("--trace-id", args.trace_id, "expected UTF-8 text") from None
    total = len(kwargs_list) * args.count
    consumable_from = time.time() + delay if delay > 0 else None
    progress = line_progress(
        lambda pushed: f"pushed {pushed:,} of {total:,} tasks", total > CHUNK and not args.json
    )
    pushed = 0
    with connect(connector_from_args(args)) as connector:
        broker = Broker(connector, encoder_from_args(args))
        try:
            for chunk in _chunks(kwargs_list, args.count, args.trace_id):
                broker.push_tasks(args.queue, chunk, args.priority, consumable_from)
                pushed += len(chunk)
                if progress is not None:
                    progress(pushed)
        except KeyboardInterrupt:
            if progress is not None:
                progress.clear()
            print(
                f"interrupted: {pushed:,} of {total:,} tasks pushed (and up to {CHUNK:,} more"
                " if the call in progress landed)",
                file=sys.stderr,
            )
            return 130
        except StorageError as exc:
            landed = pushed + (exc.stored if isinstance(exc, PartialPushError) else 0)
            if not landed:
                raise
            reason = exc.__cause__ if isinstance(exc, PartialPushError) else exc
            raise StorageError(
                f"{reason}; {landed:,} of {total:,} tasks were pushed before it, the rest were not"
            ) from exc
        finally:
            if progress is not None:
                progress.clear()
    if args.json:
        summary = {"queue": args.queue, "pushed": pushed, "priority": args.priority}
        print(json.dumps({**summary, "consumable_from": consumable_from}))
    else:
        print(f"pushed {counted(pushed, 'task')} to {args.queue!r}")
    return 0
