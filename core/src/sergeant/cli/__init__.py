"""The ``sergeant`` command line.

Each subcommand lives in its own module exposing ``register(subparsers)``,
which adds its parser and sets ``handler`` (a callable taking the parsed
arguments and returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from sergeant.cli._version import VersionAction
from sergeant.cli._words import printable
from sergeant.errors import SergeantError

__all__ = ["main"]

#: Subcommand modules, in the order ``sergeant --help`` lists them.
COMMAND_MODULES = (
    "sergeant.cli.worker",
    "sergeant.cli.push",
    "sergeant.cli.stats",
    "sergeant.cli.dead",
    "sergeant.cli.migrate",
    "sergeant.cli.plugins",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="sergeant", description="A task queue whose storage layer is a plugin."
    )
    parser.add_argument("--version", action=VersionAction)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; errors from sergeant print one line (no traceback) and exit 2."""
    args = build_parser().parse_args(argv)
    try:
        code = int(args.handler(args))
        sys.stdout.flush()  # an output error (a full disk) shows here, not at exit
        return code
    except SergeantError as exc:
        print(f"sergeant: error: {printable(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        # The reader went away (``sergeant stats | head -1``): say nothing more.
        # Output on a full disk (``> /dev/full``): one line, not a traceback. Either
        # way, keep Python's exit-time flush of stdout from raising again.
        if not isinstance(exc, BrokenPipeError):
            print(f"sergeant: error: {printable(str(exc))}", file=sys.stderr)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
