"""``sergeant --version``: sergeant's version and each installed connector plugin's."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import importlib_metadata

from sergeant.registry import ENTRY_POINT_GROUP

__all__ = ["VersionAction", "version_text"]


def version_text() -> str:
    """One line for sergeant, one per installed connector type (no plugin is imported)."""
    lines = [f"sergeant {importlib_metadata.version('sergeant')}"]
    seen: set[tuple[str, str, str]] = set()
    for ep in sorted(
        importlib_metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name
    ):
        dist = ep.dist
        row = (ep.name, dist.name if dist else "?", dist.version if dist else "?")
        if row not in seen:
            seen.add(row)
            lines.append(f"  {row[0]}: {row[1]} {row[2]}")
    if len(lines) == 1:
        lines.append("  no connector plugin installed (pip install sergeant-local)")
    return "\n".join(lines)


class VersionAction(argparse.Action):
    """Prints :func:`version_text` and exits, like argparse's own ``version`` action."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "show sergeant's and the connector plugins' versions and exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(version_text())
        parser.exit()
