"""``sergeant plugins``: installed connector types, their distributions and status."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sergeant._connect import default_registry

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
    if args.json:
        print(json.dumps([row.as_dict() for row in rows], indent=2))
        return 0
    table = [("TYPE", "DISTRIBUTION", "VERSION", "MODULE", "STATUS")]
    table += [
        (r.type, r.distribution or "-", r.version or "-", r.module or "-", r.status) for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
    return 0
