"""The CLI's one-line progress: redrawn in place, erased at the end, never in a pipe."""

from __future__ import annotations

import io

from sergeant.cli._progress import LineProgress, line_progress


def test_the_line_is_redrawn_in_place_and_erased_once() -> None:
    stream = io.StringIO()
    progress = LineProgress(stream, lambda n: f"pushed {n:,}")
    progress.clear()  # nothing shown yet: nothing to erase
    progress(1)
    progress(12_000)
    progress.clear()
    progress.clear()
    assert stream.getvalue() == "\r\033[Kpushed 1\r\033[Kpushed 12,000\r\033[K"


def test_no_progress_when_not_wanted_or_when_stderr_is_no_terminal() -> None:
    assert line_progress(str, wanted=False) is None
    assert line_progress(str) is None  # pytest captures stderr: not a terminal
