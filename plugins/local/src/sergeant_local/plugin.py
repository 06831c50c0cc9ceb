"""Plugin module named by the ``local`` entry point of the ``sergeant.connectors`` group."""

from __future__ import annotations

import sergeant
from sergeant.config import Connector as ConnectorConfig
from sergeant.registry import ConnectorTypes

from sergeant_local.connector import LocalConnector

__all__ = [
    "sergeant_connector_from_url",
    "sergeant_connector_url_schemes",
    "sergeant_register_connectors",
]


@sergeant.hookimpl
def sergeant_register_connectors(registry: ConnectorTypes) -> None:
    """Register :class:`LocalConnector` as the ``local`` type."""
    registry.add_connector(LocalConnector)


@sergeant.hookimpl
def sergeant_connector_url_schemes() -> dict[str, str]:
    """``local:PATH`` names the SQLite file at PATH."""
    return {"local": "local:PATH"}


@sergeant.hookimpl
def sergeant_connector_from_url(url: str) -> ConnectorConfig | None:
    """``local:PATH``: the ``local`` type on the file PATH (the rest, as written)."""
    scheme, _, path = url.partition(":")
    if scheme != "local" or not path:
        return None
    return ConnectorConfig(type="local", params={"file_path": path})
