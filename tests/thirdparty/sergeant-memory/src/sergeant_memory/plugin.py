"""Plugin module named by the ``memory`` entry point."""

from __future__ import annotations

import sergeant
from sergeant.config import Connector as ConnectorConfig
from sergeant.registry import ConnectorTypes

from sergeant_memory.connector import MemoryConnector


@sergeant.hookimpl
def sergeant_register_connectors(registry: ConnectorTypes) -> None:
    registry.add_connector(MemoryConnector)


@sergeant.hookimpl
def sergeant_connector_url_schemes() -> dict[str, str]:
    return {"memory": "memory:NAME"}


@sergeant.hookimpl
def sergeant_connector_from_url(url: str) -> ConnectorConfig | None:
    """``memory:NAME``: the store shared by every connector of that name."""
    scheme, _, name = url.partition(":")
    if scheme.lower() != "memory" or not name:
        return None
    return ConnectorConfig(type="memory", params={"name": name})
