"""The params of the ``local`` connector, validated at construction."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
from sergeant.errors import ConfigError
from sergeant.validation import build_params, positive_number

__all__ = ["SYNCHRONOUS_MODES", "LocalParams", "check_params", "default_file_path"]

#: ``PRAGMA synchronous`` values we accept: NORMAL survives any process crash;
#: FULL also survives power loss, at the cost of an fsync per commit.
SYNCHRONOUS_MODES = ("NORMAL", "FULL")


def default_file_path() -> str:
    """Where the database lives when ``file_path`` is not given.

    ``$XDG_CACHE_HOME/sergeant/sergeant.sqlite3`` (``~/.cache/...`` when unset) on
    POSIX, ``%LOCALAPPDATA%\\sergeant\\sergeant.sqlite3`` on Windows. The folder is
    created on first use.
    """
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "sergeant" / "sergeant.sqlite3")


def _check_file_path(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        raise ConfigError(
            attribute.name, value, "expected a path string such as '/tmp/sergeant_db.sqlite3'"
        )
    if "\x00" in str(os.fspath(value)):
        raise ConfigError(attribute.name, value, "a path cannot contain a NUL character; remove it")
    if os.fspath(value) == ":memory:" or str(os.fspath(value)).startswith("file:"):
        raise ConfigError(
            attribute.name,
            value,
            "expected a file path: processes share queues through a file "
            "(use a temp file in tests)",
        )


def _check_synchronous(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value not in SYNCHRONOUS_MODES:
        raise ConfigError(attribute.name, value, "use 'NORMAL' (default) or 'FULL'")


@attrs.frozen
class LocalParams:
    """Params of ``sergeant.config.Connector(type='local', params={...})``.

    :ivar file_path: the SQLite file holding every queue, key and lock. Its folder
        must exist. None (or absent) means :func:`default_file_path`, whose folder
        is created. ``~`` is expanded.
    :ivar busy_timeout_seconds: how long a call waits for another process's write
        before failing with :class:`~sergeant.errors.ConnectorUnavailableError`.
    :ivar synchronous: ``'NORMAL'`` (default: WAL commits survive a killed process,
        the last ones may be lost on power failure) or ``'FULL'`` (fsync every commit).
    """

    file_path: str | os.PathLike[str] | None = attrs.field(default=None, validator=_check_file_path)
    busy_timeout_seconds: float = attrs.field(default=30.0, validator=positive_number)
    synchronous: str = attrs.field(default="NORMAL", validator=_check_synchronous)


def check_params(params: Mapping[str, Any]) -> None:
    """The ``sergeant.connector_params`` entry point: validate ``params`` as the
    connector would, touching no file (``sergeant.config.Connector`` calls it)."""
    build_params(LocalParams, params, where="connector 'local' params")
