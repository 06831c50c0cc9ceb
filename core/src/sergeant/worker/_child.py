"""One supervised worker process: ``python -m sergeant.worker._child MODULE CLASS``.

The exit code tells the supervisor how the process ended (see :class:`ExitCode`).
"""

from __future__ import annotations

import ctypes
import enum
import importlib
import importlib.util
import logging
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

__all__ = ["ExitCode", "WorkerLoadError", "load_worker_class", "main"]


class ExitCode(enum.IntEnum):
    """How a worker process ended (Sergeant's codes)."""

    FINISHED = 0
    CRASHED = 1
    MODULE_NOT_FOUND = 2
    CLASS_NOT_FOUND = 3
    RESPAWN = 4
    STOP = 5
    EXECUTION_FAILURE = 6
    MODULE_NOT_IMPORTABLE = 7
    #: Ours: the worker's config is invalid (a ConfigError while it was set up).
    CONFIG_INVALID = 8


class WorkerLoadError(Exception):
    """The worker module or class could not be loaded; ``code`` says which."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def load_worker_class(module: str, class_name: str) -> type[Any]:
    """Import ``module`` (a dotted name, or a path to a ``.py`` file) and return ``class_name``."""
    if module.endswith(".py") or os.sep in module:
        path = Path(module)
        if not path.is_file():
            raise WorkerLoadError(ExitCode.MODULE_NOT_FOUND, f"no such file: {module}")
        folder = str(path.resolve().parent)
        if folder not in sys.path:  # as when the file is run as a script
            sys.path.insert(0, folder)
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise WorkerLoadError(ExitCode.MODULE_NOT_IMPORTABLE, f"cannot import {module}")
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = loaded
        try:
            spec.loader.exec_module(loaded)
        except (Exception, SystemExit) as exc:  # a sys.exit() at import: its code is not ours
            raise WorkerLoadError(
                ExitCode.MODULE_NOT_IMPORTABLE, f"importing {module} raised {exc!r}"
            ) from exc
    else:
        try:
            loaded = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                raise WorkerLoadError(
                    ExitCode.MODULE_NOT_FOUND,
                    f"no module named {module!r} (run from the folder that holds it,"
                    " or add it to PYTHONPATH)",
                ) from exc
            raise WorkerLoadError(
                ExitCode.MODULE_NOT_IMPORTABLE, f"importing {module} raised {exc!r}"
            ) from exc
        except (Exception, SystemExit) as exc:  # a sys.exit() at import: its code is not ours
            raise WorkerLoadError(
                ExitCode.MODULE_NOT_IMPORTABLE, f"importing {module} raised {exc!r}"
            ) from exc
    try:
        cls: type[Any] = getattr(loaded, class_name)
    except AttributeError:
        raise WorkerLoadError(
            ExitCode.CLASS_NOT_FOUND, f"module {module!r} has no class {class_name!r}"
        ) from None
    return cls


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM when the supervisor dies, so no worker is orphaned."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def run(module: str, class_name: str) -> ExitCode:
    """Load the worker class, run its loop once, and say how it ended."""
    from sergeant.errors import ConfigError
    from sergeant.worker._worker import Worker

    try:
        cls = load_worker_class(module, class_name)
    except WorkerLoadError as exc:
        print(f"sergeant worker: {exc}", file=sys.stderr)
        return exc.code
    if not (isinstance(cls, type) and issubclass(cls, Worker)):
        print(
            f"sergeant worker: {module}:{class_name} is not a sergeant.worker.Worker subclass",
            file=sys.stderr,
        )
        return ExitCode.CLASS_NOT_FOUND
    try:
        try:
            worker = cls()
            worker.init_worker()
        except ConfigError as exc:  # the same in every process: starting another cannot help
            print(f"sergeant worker: {exc}", file=sys.stderr)
            return ExitCode.CONFIG_INVALID
        summary = worker.work_loop()
        worker.close()
    except SystemExit as exc:
        # Its code must not reach the supervisor: 2, 3 and 7 would read as a worker
        # that cannot be loaded and 5 as a stop, and either would stop every process.
        print(
            f"sergeant worker: a task or hook raised {exc!r} (sys.exit), which ends this "
            "process as it ends any Python program; the supervisor starts another",
            file=sys.stderr,
        )
        return ExitCode.CRASHED
    except KeyboardInterrupt:  # a second SIGTERM: the worker's way to end at once
        print(
            "sergeant worker: a second stop signal ended this process at once (a task it"
            " was running goes back to the queue)",
            file=sys.stderr,
        )
        return ExitCode.CRASHED
    except BaseException:
        # Any other (asyncio.CancelledError, GeneratorExit, the user's own): left
        # to escape main(), it would skip os._exit and a user's non-daemon thread
        # would keep this process alive, idle, forever.
        traceback.print_exc()
        return ExitCode.CRASHED
    if summary["respawn"]:
        return ExitCode.RESPAWN
    if summary["stop"]:
        return ExitCode.STOP
    failure = (
        summary["initialize_exception"]
        or summary["executor_exception"]
        or summary["finalize_exception"]
    )
    if failure:  # the worker's own logger may log nowhere (its default): say why here
        print(f"sergeant worker: {type(failure).__name__}: {failure}", file=sys.stderr)
        return ExitCode.EXECUTION_FAILURE
    return ExitCode.FINISHED


def main(argv: list[str] | None = None) -> None:
    """Entry point of a supervised worker process."""
    args = sys.argv[1:] if argv is None else argv
    # Ctrl-C reaches the whole process group: the supervisor alone handles it
    # and sends SIGTERM, so a running task is not interrupted twice.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    code = run(args[0], args[1])
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code))  # lingering non-daemon threads of user code must not keep us alive


if __name__ == "__main__":
    main()
