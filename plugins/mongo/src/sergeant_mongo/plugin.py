"""Plugin module named by the ``mongo`` entry point."""

from __future__ import annotations

import sergeant
from sergeant.config import Connector as ConnectorConfig
from sergeant.registry import ConnectorTypes

__all__ = [
    "sergeant_connector_from_url",
    "sergeant_connector_url_schemes",
    "sergeant_register_connectors",
]


@sergeant.hookimpl
def sergeant_register_connectors(registry: ConnectorTypes) -> None:
    """Add :class:`~sergeant_mongo.connector.MongoConnector` as type ``mongo``."""
    from sergeant_mongo.connector import MongoConnector

    registry.add_connector(MongoConnector)


@sergeant.hookimpl
def sergeant_connector_url_schemes() -> dict[str, str]:
    """MongoDB connection strings, both forms."""
    return {
        "mongodb": "mongodb://[USER:PASSWORD@]HOST[:PORT][,HOST...][/DB][?OPTIONS]",
        "mongodb+srv": "mongodb+srv://[USER:PASSWORD@]HOST[/DB][?OPTIONS]",
    }


@sergeant.hookimpl
def sergeant_connector_from_url(url: str) -> ConnectorConfig | None:
    """A MongoDB connection string: the ``mongo`` type with one node of that ``uri``."""
    scheme, separator, _ = url.partition("://")
    if not separator or scheme.lower() not in ("mongodb", "mongodb+srv"):
        return None
    return ConnectorConfig(type="mongo", params={"nodes": [{"uri": url}]})
