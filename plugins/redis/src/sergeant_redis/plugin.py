"""Plugin module named by the ``redis`` entry point of the ``sergeant.connectors`` group."""

from __future__ import annotations

import sergeant
from sergeant.registry import ConnectorTypes

from sergeant_redis.connector import RedisConnector

__all__ = ["sergeant_register_connectors"]


@sergeant.hookimpl
def sergeant_register_connectors(registry: ConnectorTypes) -> None:
    """Add :class:`RedisConnector` under the type ``'redis'``."""
    registry.add_connector(RedisConnector)
