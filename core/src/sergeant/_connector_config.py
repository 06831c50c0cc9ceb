"""The ``Connector`` configuration: where tasks live (:mod:`sergeant.config` re-exports it).

It is here, below :mod:`sergeant.worker_config` and :mod:`sergeant._connect`, so
that both can use it without importing each other; :mod:`sergeant.config` only
gathers the user-facing names.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from sergeant._params_check import ParamsCheck, load_params_check
from sergeant.errors import ConfigError, SergeantError
from sergeant.plugins import PluginPolicy
from sergeant.redaction import freeze, redact

__all__ = ["Connector", "check_params"]


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
        check_params(self)

    def __repr__(self) -> str:
        return f"Connector(type={self.type!r}, params={_redacted_repr(self.params)})"

    def __getstate__(self) -> dict[str, Any]:
        return {"params": dict(self.params), "type": self.type}

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "params", _readonly_params(state["params"]))
        object.__setattr__(self, "type", state["type"])


@functools.cache
def _env_policy() -> PluginPolicy:
    return PluginPolicy.from_env()


_params_checks: dict[str, ParamsCheck | None] = {}


def check_params(config: Connector) -> None:
    """Validate ``config.params`` now if the type's plugin is installed (see
    :func:`~sergeant.registry.load_params_check`); otherwise :func:`~sergeant.connect`
    does, or says what to install. Builds no registry or plugin manager."""
    if config.type not in _params_checks:
        try:
            policy = _env_policy()
        except SergeantError:  # a bad plugin policy: connect() reports it
            return
        _params_checks[config.type] = load_params_check(config.type, policy)
    check = _params_checks[config.type]
    if check is not None:
        check(config.params)
