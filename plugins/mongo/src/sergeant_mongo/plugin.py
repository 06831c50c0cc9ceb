"""Plugin module named by the ``mongo`` entry point."""

from __future__ import annotations

import sergeant
from sergeant.registry import ConnectorTypes

__all__ = ["sergeant_register_connectors"]


@sergeant.hookimpl
def sergeant_register_connectors(registry: ConnectorTypes) -> None:
    """Add :class:`~sergeant_mongo.connector.MongoConnector` as type ``mongo``."""
    from sergeant_mongo.connector import MongoConnector

    registry.add_connector(MongoConnector)
