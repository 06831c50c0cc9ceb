"""``sergeant.connect``: turn a ``Connector`` config into a live connector."""

from __future__ import annotations

import functools

from sergeant.config import Connector as ConnectorConfig
from sergeant.connector import Connector
from sergeant.errors import ConfigError, SergeantError
from sergeant.plugins import PluginPolicy
from sergeant.registry import ParamsCheck, Registry, load_params_check

__all__ = ["check_params", "connect", "default_registry"]


@functools.cache
def default_registry() -> Registry:
    """The process's registry, built on first use from the environment's plugin policy."""
    return Registry(PluginPolicy.from_env())


@functools.cache
def _env_policy() -> PluginPolicy:
    return PluginPolicy.from_env()


_params_checks: dict[str, ParamsCheck | None] = {}


def check_params(config: ConnectorConfig) -> None:
    """Validate ``config.params`` now if the type's plugin is installed (see
    :func:`~sergeant.registry.load_params_check`); otherwise :func:`connect`
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


def connect(
    config: ConnectorConfig | None = None, *, registry: Registry | None = None
) -> Connector:
    """A live connector for ``config`` (default: the ``local`` type with default params).

    The registry resolves ``config.type`` to its plugin, loading only that plugin,
    and the backend validates ``config.params``. Use the result as a context
    manager so it is closed::

        with sergeant.connect(sergeant.config.Connector(type='local', params={...})) as queue:
            queue.queue_push('emails', b'hello')

    :param registry: a registry with its own :class:`~sergeant.PluginPolicy`;
        default: one built from the environment (``SERGEANT_CONNECTORS`` etc.).
    """
    if config is None:
        config = ConnectorConfig(params={})
    if not isinstance(config, ConnectorConfig):
        raise ConfigError(
            "config", type(config).__name__, "pass sergeant.config.Connector(type=..., params=...)"
        )
    return (registry or default_registry()).connect(config)
