"""User-facing configuration objects.

``Connector`` says where tasks live, exactly as in Sergeant's documentation::

    sergeant.config.Connector(
        type='redis',
        params={'nodes': [{'host': 'localhost', 'port': 6379, 'password': None, 'database': 0}]},
    )

Worker configuration (``WorkerConfig`` and friends) lives in
:mod:`sergeant.worker_config` and is re-exported here when available.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from sergeant._redact import freeze, redact
from sergeant.errors import ConfigError

__all__ = ["Connector"]


def _readonly_params(params: Any) -> Mapping[str, Any]:
    if params is None:
        return MappingProxyType({})
    if not isinstance(params, Mapping):
        raise ConfigError(
            "Connector.params", type(params).__name__, "pass a dict such as {'file_path': '...'}"
        )
    for key in params:
        if not isinstance(key, str):
            raise ConfigError("Connector.params", key, "param names are strings")
    return MappingProxyType(
        {key: _plain_copy(value, f"params.{key}") for key, value in params.items()}
    )


def _plain_copy(value: Any, field: str) -> Any:
    """A deep copy of ``value`` (so later changes by the caller don't leak in), or a
    ConfigError naming ``field`` when it holds something that cannot be copied."""
    if isinstance(value, Mapping):
        return {k: _plain_copy(v, f"{field}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain_copy(v, f"{field}[{i}]") for i, v in enumerate(value))
    try:
        return copy.deepcopy(value)
    except Exception as exc:
        raise ConfigError(
            field, type(value).__name__, "params hold plain values: strings, numbers, lists, dicts"
        ) from exc


def _check_type(_inst: object, _attr: attrs.Attribute[str], value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            "Connector.type", value, "use 'local', 'redis', 'mongo' or an installed plugin's type"
        )


def _redacted_repr(params: Mapping[str, Any]) -> str:
    return repr(redact(dict(params)))


@attrs.frozen(repr=False)
class Connector:
    """Where tasks live: a connector ``type`` and the ``params`` its plugin takes.

    ``Connector()`` is the ``local`` backend with its default params.

    :param params: keyword arguments for the backend (default: none). When the
        type's plugin is installed they are checked here, with the plugin's own
        params class and without importing its driver, so a wrong or missing
        param raises :class:`~sergeant.errors.ConfigError` naming the field.
        When it is not installed (a config module may be shared by hosts with
        different installs) construction succeeds and :func:`sergeant.connect`
        says what to install.
    :param type: ``'local'`` (default, a SQLite file), ``'redis'``, ``'mongo'`` or the
        type of any installed third-party connector plugin.

    Instances are immutable and hashable; the repr never shows a password.
    """

    params: Mapping[str, Any] = attrs.field(factory=dict, converter=_readonly_params, eq=freeze)
    type: str = attrs.field(default="local", validator=_check_type)

    def __attrs_post_init__(self) -> None:
        from sergeant._connect import check_params  # here: sergeant._connect imports this module

        check_params(self)

    def __repr__(self) -> str:
        return f"Connector(type={self.type!r}, params={_redacted_repr(self.params)})"

    def __getstate__(self) -> dict[str, Any]:
        return {"params": dict(self.params), "type": self.type}

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "params", _readonly_params(state["params"]))
        object.__setattr__(self, "type", state["type"])


# Worker configuration, re-exported so ``sergeant.config.WorkerConfig`` works as in Sergeant.
from sergeant.worker_config import (  # noqa: E402
    Encoder,
    Logging,
    LoggingEvents,
    Starvation,
    Timeouts,
    WorkerConfig,
)

__all__ += ["Encoder", "Logging", "LoggingEvents", "Starvation", "Timeouts", "WorkerConfig"]
