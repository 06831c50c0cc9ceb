"""Plugin module named by the ``local`` entry point of the ``sergeant.connectors`` group."""

from __future__ import annotations

import sergeant
from sergeant.registry import ConnectorTypes

from sergeant_local.connector import LocalConnector

__all__ = ["sergeant_register_connectors"]


@sergeant.hookimpl
def sergeant_register_connectors(registry: ConnectorTypes) -> None:
    """Register :class:`LocalConnector` as the ``local`` type."""
    registry.add_connector(LocalConnector)
