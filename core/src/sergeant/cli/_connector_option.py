"""Where the CLI's connector comes from: a flag, an environment variable or a config file.

In order: ``--connector SPEC``; ``$SERGEANT_CONNECTOR``; the ``[connector]`` table of
``--config FILE``, ``$SERGEANT_CONFIG`` or ``./sergeant.toml``; else the ``local``
backend on its default SQLite file. A SPEC is JSON
(``{"type": "redis", "params": {"nodes": [{"host": "127.0.0.1", "port": 6379}]}}``),
a bare type (``local``, ``redis``, ``mongo``: the type with its default params,
e.g. a redis-server on localhost:6379), or a url. This module knows no url
scheme: the installed plugins declare theirs and read them
(:func:`~sergeant.hookspecs.sergeant_connector_url_schemes`), e.g. ``local:PATH``
for a SQLite file, ``redis://`` / ``rediss://`` and ``mongodb://`` /
``mongodb+srv://``. A config file::

    [connector]
    type = "redis"
    params = { nodes = [{ host = "127.0.0.1", port = 6379 }] }

    [encoder]            # optional, for push and dead list
    serializer = "msgpack"
    compressor = "zlib"
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import tomllib
from pathlib import Path
from typing import Any

from sergeant._connect import default_registry
from sergeant.config import Connector
from sergeant.encoder import TaskEncoder
from sergeant.errors import ConfigError
from sergeant.redaction import redact
from sergeant.registry import Registry

__all__ = ["add_connector_options", "connector_from_args", "encoder_from_args", "unreadable"]

CONNECTOR_ENV = "SERGEANT_CONNECTOR"
CONFIG_ENV = "SERGEANT_CONFIG"
DEFAULT_CONFIG = "sergeant.toml"
#: The largest config file read: one holds a few small tables.
MAX_CONFIG_BYTES = 1024 * 1024


def add_connector_options(parser: argparse.ArgumentParser, *, encoder: bool = False) -> None:
    """Add ``--connector`` and ``--config`` (and ``--serializer``/``--compressor``)."""
    group = parser.add_argument_group("storage")
    group.add_argument(
        "--connector",
        metavar="SPEC",
        help=(
            f"JSON {{'type':..., 'params':...}}, a type, or a url an installed plugin"
            f" reads, e.g. local:PATH, redis://HOST or mongodb://HOST (env ${CONNECTOR_ENV})"
        ),
    )
    group.add_argument(
        "--config",
        metavar="FILE",
        help=f"TOML file with a [connector] table (env ${CONFIG_ENV}; default ./{DEFAULT_CONFIG})",
    )
    if encoder:
        group.add_argument("--serializer", choices=("msgpack", "json", "pickle"), default=None)
        group.add_argument("--compressor", choices=("zlib", "gzip", "bzip2", "lzma"), default=None)


def _from_spec(spec: str, source: str, registry: Registry | None) -> Connector:
    spec = spec.strip()
    if spec.startswith("{"):
        try:
            value = json.loads(spec)
        except (ValueError, RecursionError) as exc:
            # the text may hold a password: never echo it
            why = unreadable(exc)
            if isinstance(exc, json.JSONDecodeError):
                why = f"{exc.msg} at character {exc.pos}"
            raise ConfigError(source, None, f"not valid JSON ({why})", show_value=False) from None
        return _from_mapping(value, source)
    kind, _, rest = spec.partition(":")
    if rest:
        return (registry or default_registry()).connector_from_url(spec, field=source)
    if not kind:
        fix = 'use JSON {"type": ..., "params": {...}}, a connector type or a url'
        raise ConfigError(source, redact(spec), fix)
    return Connector(type=kind, params={})


def _from_mapping(value: Any, source: str) -> Connector:
    if not isinstance(value, dict):
        raise ConfigError(source, type(value).__name__, "expected a table with type and params")
    unknown = set(value) - {"type", "params"}
    if unknown:
        raise ConfigError(f"{source}.{sorted(unknown)[0]}", "unknown key", "use type and params")
    params = value.get("params", {})
    if not isinstance(params, dict):
        raise ConfigError(f"{source}.params", type(params).__name__, "expected a table")
    try:
        return Connector(type=value.get("type", "local"), params=params)
    except RecursionError:  # within the parser's depth, past the config copy's
        fix = "is nested too deeply: expected a table of plain values"
        raise ConfigError(f"{source}.params", None, fix, show_value=False) from None


def _config_file(args: argparse.Namespace) -> tuple[dict[str, Any], str] | None:
    path = getattr(args, "config", None) or os.environ.get(CONFIG_ENV)
    if path is None:
        if not Path(DEFAULT_CONFIG).exists():  # a folder of that name is an error, below
            return None
        path = DEFAULT_CONFIG
    try:
        with open(path, "rb") as handle:  # read no more than a config can hold (/dev/zero)
            data = handle.read(MAX_CONFIG_BYTES + 1)
        if len(data) <= MAX_CONFIG_BYTES:
            return tomllib.loads(data.decode("utf-8-sig")), path  # Notepad writes a BOM
    except OSError as exc:
        raise ConfigError("--config", path, f"cannot read it: {exc.strerror}") from exc
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError, UnicodeDecodeError too
        why = unreadable(exc)
        if isinstance(exc, tomllib.TOMLDecodeError | UnicodeDecodeError):
            why = str(exc)
        raise ConfigError("--config", path, f"not valid TOML: {why}") from None
    fix = f"is over {MAX_CONFIG_BYTES:,} bytes, too large for a config file: check the path"
    raise ConfigError("--config", path, fix)


def unreadable(exc: Exception) -> str:
    """Why well-formed JSON or TOML could not be read: one of Python's limits."""
    if isinstance(exc, RecursionError):
        return "nested too deeply to read"
    return "holds a number too long to read: pass it as a string"


def connector_from_args(args: argparse.Namespace, *, registry: Registry | None = None) -> Connector:
    """The connector config the user chose (see the module doc for the order).

    :param registry: the registry whose plugins read a url (default: the process's).
    """
    if getattr(args, "connector", None):
        return _from_spec(args.connector, "--connector", registry)
    if os.environ.get(CONNECTOR_ENV):
        return _from_spec(os.environ[CONNECTOR_ENV], f"${CONNECTOR_ENV}", registry)
    loaded = _config_file(args)
    if loaded is not None and "connector" in loaded[0]:
        return _from_mapping(loaded[0]["connector"], f"{loaded[1]} [connector]")
    return Connector(type="local", params={})


_ENCODER_KEYS = ("serializer", "compressor")


def encoder_from_args(args: argparse.Namespace) -> TaskEncoder:
    """The task encoder: flags, else the config file's ``[encoder]``, else msgpack."""
    table: dict[str, Any] = {}
    loaded = _config_file(args)
    if loaded is not None:
        table = loaded[0].get("encoder", {})
        where = f"{loaded[1]} [encoder]"
        if not isinstance(table, dict):
            raise ConfigError(where, table, "expected a table: [encoder] with serializer = ...")
        for key, value in table.items():
            if key not in _ENCODER_KEYS:
                close = difflib.get_close_matches(key, _ENCODER_KEYS, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ConfigError(
                    f"{where} {key}", value, f"{hint}its keys: serializer, compressor"
                )
            if not isinstance(value, str):
                raise ConfigError(f"{where} {key}", value, "expected a name in quotes")
    serializer = getattr(args, "serializer", None) or table.get("serializer", "msgpack")
    compressor = getattr(args, "compressor", None) or table.get("compressor")
    return TaskEncoder(serializer, compressor)
