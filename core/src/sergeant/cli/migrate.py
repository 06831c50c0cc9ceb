"""``sergeant migrate``: move what Sergeant 0.27.0 queued into this layout.

Run it with the connector the old producers and workers used (``--connector``,
``$SERGEANT_CONNECTOR`` or ``sergeant.toml``). Each item moves atomically, so
the command may be stopped at any point and run again, also while old
producers still push; ``--dry-run`` only counts. The backend does the moving
(:meth:`sergeant.connector.Connector.migrate_legacy`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sergeant._connect import connect
from sergeant.cli._connector_option import add_connector_options, connector_from_args
from sergeant.cli._progress import line_progress
from sergeant.cli._words import printable
from sergeant.errors import ConfigError
from sergeant.legacy import MIGRATE_LEGACY, LegacyReport, encoder_advice

__all__ = ["register"]

#: The backends Sergeant 0.27.0 had: for others there is nothing to migrate.
SERGEANT_TYPES = frozenset({"redis", "mongo", "local"})


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "migrate",
        help="move tasks and keys Sergeant 0.27.0 stored into this layout",
        description="Move Sergeant 0.27.0's queues (both priorities, delayed tasks with their"
        " due time) and keys into this project's layout, on the same storage. Safe to stop and"
        " run again, also while old producers still push.",
    )
    parser.add_argument("queues", nargs="*", metavar="QUEUE", help="default: every queue found")
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument(
        "--keys",
        metavar="PATTERN",
        default=None,
        help="also move the keys whose names match this glob (Redis: the only way keys move,"
        " since Sergeant kept them among other data)",
    )
    keys.add_argument("--no-keys", action="store_true", help="move no keys")
    parser.add_argument("--dry-run", action="store_true", help="count only; change nothing")
    parser.add_argument("--json", action="store_true", help="print a JSON summary for scripts")
    add_connector_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.keys == "":
        raise ConfigError(
            "--keys", args.keys, "expected a glob pattern such as 'user:*' (--no-keys moves none)"
        )
    keys: str | bool = False if args.no_keys else (args.keys if args.keys is not None else True)
    with connect(connector_from_args(args)) as connector:
        if MIGRATE_LEGACY not in connector.capabilities:
            kind = connector.type_name
            if kind in SERGEANT_TYPES:
                print(
                    f"sergeant migrate does not support connector type {kind!r} yet: Sergeant"
                    f" 0.27.0's {kind} data stays where it is",
                    file=sys.stderr,
                )
                return 1
            nothing = f"nothing to migrate: Sergeant 0.27.0 had no {kind!r} connector type"
            if args.json:
                empty = LegacyReport(notes=(nothing,))
                print(json.dumps({"dry_run": args.dry_run, **empty.as_dict()}, indent=2))
            else:
                print(nothing)
            return 0
        progress = line_progress(lambda moved: f"moved {moved:,} items", not args.json)
        try:
            report = connector.migrate_legacy(
                args.queues or None, keys=keys, dry_run=args.dry_run, progress=progress
            )
        finally:
            if progress is not None:
                progress.clear()
    if args.json:
        print(json.dumps({"dry_run": args.dry_run, **report.as_dict()}, indent=2))
        return 0
    _print(report, args.dry_run)
    return 0


def _print(report: LegacyReport, dry_run: bool) -> None:
    verb = "would move" if dry_run else "moved"
    if not report.queues and not report.keys:
        print("nothing to migrate: no Sergeant 0.27.0 queues or keys found")
    for queue in report.queues:
        high = f" ({queue.high} HIGH)" if queue.high else ""
        name = printable(queue.name)
        print(f"{name}: {verb} {queue.ready} ready{high} and {queue.delayed} delayed tasks")
    if report.keys:
        print(f"keys: {verb} {report.keys}")
    for name in report.key_conflicts:
        print(f"key {name!r} left in the old layout: ours holds a different value under it")
    for line in (*report.notes, *encoder_advice(report.samples)):
        print(f"note: {printable(line)}")
