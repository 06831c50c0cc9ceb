"""``sergeant plugins``: installed connector types, their distributions and status.

A plugin may also tell how it runs (an optional C extension in use or not, a
driver's version) through the ``sergeant_plugin_notes`` hook: ``sergeant
plugins`` prints its lines under the type's row and lists them as ``notes`` in
``--json``. Core knows nothing of what they say. A type whose plugin did not
load has no notes.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from sergeant._connect import default_registry
from sergeant.cli._words import printable

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "plugins",
        help="list connector plugins",
        description="List connector types with distribution, version, module and status.",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON for scripts")
    output.add_argument(
        "--requirements",
        action="store_true",
        help="print exact pins (name==version) a deployment can commit",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    registry = default_registry()
    if args.requirements:
        print("# sergeant plugin pins: set SERGEANT_PLUGIN_REQUIREMENTS to this file's path")
        for line in registry.installed_requirements():
            print(line)
        return 0
    rows = registry.discover()
    notes = [registry.plugin_notes(row.type) if row.status.startswith("ok") else [] for row in rows]
    if args.json:
        print(
            json.dumps(
                [{**row.as_dict(), "notes": lines} for row, lines in zip(rows, notes, strict=True)],
                indent=2,
            )
        )
        return 0
    table: list[tuple[str, ...]] = [("TYPE", "DISTRIBUTION", "VERSION", "MODULE", "STATUS")]
    table += [
        tuple(
            printable(cell)
            for cell in (r.type, r.distribution or "-", r.version or "-", r.module or "-", r.status)
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for index, row in enumerate(table):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
        for line in notes[index - 1] if index else ():
            print(f"    {printable(line)}")
    return 0
