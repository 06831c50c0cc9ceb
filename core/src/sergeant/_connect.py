"""``sergeant.connect``: turn a ``Connector`` config into a live connector."""

from __future__ import annotations

import functools

from sergeant._connector_config import Connector as ConnectorConfig
from sergeant._connector_config import check_params
from sergeant.connector import Connector
from sergeant.errors import ConfigError
from sergeant.plugins import PluginPolicy
from sergeant.registry import Registry

__all__ = ["check_params", "connect", "default_registry"]


@functools.cache
def default_registry() -> Registry:
    """The process's registry, built on first use from the environment's plugin policy."""
    return Registry(PluginPolicy.from_env())


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
