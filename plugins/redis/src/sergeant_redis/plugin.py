"""Plugin module named by the ``redis`` entry point of the ``sergeant.connectors`` group."""

from __future__ import annotations

import sergeant
from sergeant.config import Connector as ConnectorConfig
from sergeant.registry import ConnectorTypes

from sergeant_redis.connector import RedisConnector

__all__ = [
    "sergeant_connector_from_url",
    "sergeant_connector_url_schemes",
    "sergeant_register_connectors",
]


@sergeant.hookimpl
def sergeant_register_connectors(registry: ConnectorTypes) -> None:
    """Add :class:`RedisConnector` under the type ``'redis'``."""
    registry.add_connector(RedisConnector)


@sergeant.hookimpl
def sergeant_connector_url_schemes() -> dict[str, str]:
    """``redis://`` and, over TLS, ``rediss://``: one node."""
    return {
        "redis": "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]",
        "rediss": "rediss://[[USER]:PASSWORD@]HOST[:PORT][/DB]",
    }


@sergeant.hookimpl
def sergeant_connector_from_url(url: str) -> ConnectorConfig | None:
    """A ``redis://`` or ``rediss://`` url: the ``redis`` type with that one node
    (the params check reads the url, and says what is wrong with it)."""
    scheme, separator, _ = url.partition("://")
    if not separator or scheme.lower() not in ("redis", "rediss"):
        return None
    return ConnectorConfig(type="redis", params={"nodes": [url]})
