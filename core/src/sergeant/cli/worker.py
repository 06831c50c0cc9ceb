"""``sergeant worker MODULE:CLASS``: run worker processes under the supervisor.

On a terminal a live line shows done, failed, retried, dead and tasks/s; otherwise
the same figures are logged every few seconds. A summary is printed at the end.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any, TextIO

from sergeant._status import Counters
from sergeant.cli._words import counted
from sergeant.errors import ConfigError
from sergeant.supervisor import Supervisor

__all__ = ["ProgressLine", "register"]

_PLAIN_EVERY = 5.0


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "worker",
        help="run worker processes with a live progress line",
        description="Spawn N processes of a Worker subclass, replace any that exit, stop them"
        " gracefully on SIGTERM/SIGINT. The worker's config says which connector it uses.",
    )
    parser.add_argument(
        "target", metavar="MODULE:CLASS", help="e.g. myapp.workers:Mailer or path/to/file.py:Mailer"
    )
    parser.add_argument("--concurrency", "-c", type=int, default=1, help="worker processes")
    parser.add_argument(
        "--max-worker-memory-usage",
        type=int,
        default=None,
        metavar="BYTES",
        help="replace a process once its RSS exceeds this",
    )
    parser.add_argument(
        "--stop-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="after a stop, kill workers still running after this long (default: wait)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress line or figures")
    parser.set_defaults(handler=run)


def _figures(counters: Counters) -> str:
    return (
        f"done {counters.done}  failed {counters.failed}  retried {counters.retried}"
        f"  dead {counters.dead}  timed out {counters.timed_out}"
        f"  {counters.rate():,.1f} tasks/s"
    )


class ProgressLine:
    """Redraws one line on a terminal; logs a plain line every few seconds otherwise."""

    def __init__(self, stream: TextIO, logger: logging.Logger) -> None:
        self.stream = stream
        self.logger = logger
        self.live = stream.isatty()
        self._last_plain = time.monotonic()
        self._last_shown = ""

    def clear(self) -> None:
        """Erase the live line so a log record can be printed cleanly."""
        if self.live and self._last_shown:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def update(self, counters: Counters) -> None:
        """Show the latest counters."""
        shown = _figures(counters)
        if self.live:
            self.stream.write(f"\r\033[K{shown}")
            self.stream.flush()
            self._last_shown = shown
        elif shown != self._last_shown and time.monotonic() - self._last_plain >= _PLAIN_EVERY:
            self._last_plain = time.monotonic()
            self._last_shown = shown
            self.logger.info("progress: %s", shown)


class _ClearingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(self, stream: TextIO, progress: ProgressLine | None) -> None:
        super().__init__(stream)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        if self.progress is not None:
            self.progress.clear()
        super().emit(record)


def run(args: argparse.Namespace) -> int:
    module, _, class_name = args.target.rpartition(":")
    if not module or not class_name:
        raise ConfigError("MODULE:CLASS", args.target, "write it as package.module:ClassName")
    if args.concurrency < 1:
        raise ConfigError("--concurrency", args.concurrency, "expected at least 1")
    logger = logging.getLogger("sergeant.worker")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    progress = None if args.no_progress else ProgressLine(sys.stderr, logger)
    handler = _ClearingHandler(sys.stderr, progress)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    logger.handlers[:] = [handler]
    supervisor = Supervisor(
        module,
        class_name,
        args.concurrency,
        max_worker_memory_usage=args.max_worker_memory_usage,
        logger=logger,
        on_tick=progress.update if progress is not None else None,
        stop_timeout=args.stop_timeout,
    )
    code = supervisor.start()
    if progress is not None:
        progress.clear()
    totals = supervisor.totals()
    span = totals.last_task_at - totals.first_task_at
    print(
        f"summary: {counted(totals.processed, 'task')} in {span:.2f}s: {_figures(totals)}"
        + (f", requeued {totals.requeued}" if totals.requeued else ""),
        flush=True,
    )
    return code
