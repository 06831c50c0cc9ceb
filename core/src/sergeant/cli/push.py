"""``sergeant push``: push tasks onto a queue from the command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from sergeant._connect import connect
from sergeant.broker import Broker
from sergeant.cli._connector_option import (
    add_connector_options,
    connector_from_args,
    encoder_from_args,
)
from sergeant.cli._words import counted
from sergeant.errors import ConfigError
from sergeant.task import Task

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "push",
        help="push tasks onto a queue",
        description="Push tasks: --kwargs JSON (repeatable), --count copies, or JSON lines"
        " from --file (- for stdin).",
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
    add_connector_options(parser, encoder=True)
    parser.set_defaults(handler=run)


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(where, text[:60], f"not valid JSON ({exc.msg})") from exc
    if not isinstance(value, dict):
        raise ConfigError(where, text[:60], "expected a JSON object of kwargs")
    return value


def run(args: argparse.Namespace) -> int:
    kwargs_list = [_parse(text, "--kwargs") for text in args.kwargs]
    if args.file:
        handle = sys.stdin if args.file == "-" else open(args.file)  # noqa: SIM115
        with handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    kwargs_list.append(_parse(line, f"{args.file} line {number}"))
    if not kwargs_list:
        kwargs_list = [{}]
    if args.count < 1:
        raise ConfigError("--count", args.count, "expected a whole number of at least 1")
    now = time.time()
    tasks = [
        Task(kwargs=kwargs, trace_id=args.trace_id, date=now)
        for kwargs in kwargs_list
        for _ in range(args.count)
    ]
    consumable_from = now + args.delay if args.delay > 0 else None
    with connect(connector_from_args(args)) as connector:
        broker = Broker(connector, encoder_from_args(args))
        for start in range(0, len(tasks), 10_000):
            broker.push_tasks(
                args.queue, tasks[start : start + 10_000], args.priority, consumable_from
            )
    print(f"pushed {counted(len(tasks), 'task')} to {args.queue!r}")
    return 0
