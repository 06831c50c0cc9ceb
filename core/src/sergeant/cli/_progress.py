"""A count redrawn on one terminal line, for CLI commands that run long."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

__all__ = ["LineProgress", "line_progress"]


class LineProgress:
    """Calls with a count redraw ``describe(count)`` in place; :meth:`clear` erases it."""

    def __init__(self, stream: TextIO, describe: Callable[[int], str]) -> None:
        self.stream = stream
        self.describe = describe
        self.shown = False

    def __call__(self, count: int) -> None:
        self.stream.write(f"\r\033[K{self.describe(count)}")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False


def line_progress(describe: Callable[[int], str], wanted: bool = True) -> LineProgress | None:
    """A :class:`LineProgress` on stderr when ``wanted`` and stderr is a terminal, else None."""
    return LineProgress(sys.stderr, describe) if wanted and sys.stderr.isatty() else None
