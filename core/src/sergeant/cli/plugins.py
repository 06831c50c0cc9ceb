"""``sergeant plugins``: installed connector types, their distributions and status.

A plugin module may also tell how it runs (an optional C extension in use or
not, a driver's version): if it defines ``plugin_notes(type_name)``, a plain
function returning lines of text, ``sergeant plugins`` prints them under the
type's row and lists them as ``notes`` in ``--json``. Core knows nothing of what
they say. A plugin that fails to import has no notes; a ``plugin_notes`` that
raises gets one line saying so, and the command still succeeds.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from typing import Any

from sergeant._connect import default_registry
from sergeant.registry import PluginInfo

__all__ = ["NOTES_FUNCTION", "plugin_notes", "register"]

#: The name of the optional function of a plugin module that returns its notes.
NOTES_FUNCTION = "plugin_notes"


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
    notes = [plugin_notes(row) for row in rows]
    if args.json:
        print(
            json.dumps(
                [{**row.as_dict(), "notes": lines} for row, lines in zip(rows, notes, strict=True)],
                indent=2,
            )
        )
        return 0
    table = [("TYPE", "DISTRIBUTION", "VERSION", "MODULE", "STATUS")]
    table += [
        (r.type, r.distribution or "-", r.version or "-", r.module or "-", r.status) for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for index, row in enumerate(table):
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
        for line in notes[index - 1] if index else ():
            print(f"    {line}")
    return 0


def plugin_notes(row: PluginInfo) -> list[str]:
    """The lines the plugin module of ``row`` reports through ``plugin_notes``, if any.

    Only a plugin that loaded (its status is ok) is asked; its module is already
    imported by then, so nothing is imported here.
    """
    if not row.status.startswith("ok") or not row.module:
        return []
    module = sys.modules.get(row.module.split(":", 1)[0])
    notes: Callable[[str], Iterable[str]] | None = getattr(module, NOTES_FUNCTION, None)
    if not callable(notes):
        return []
    try:
        return [str(line) for line in notes(row.type)]
    except Exception as exc:  # a broken note must not hide the table
        return [f"{NOTES_FUNCTION} failed: {type(exc).__name__}: {exc}"]
