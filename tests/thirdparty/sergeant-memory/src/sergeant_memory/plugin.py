"""Plugin module named by the ``memory`` entry point."""

from __future__ import annotations

import sergeant
from sergeant.registry import ConnectorTypes

from sergeant_memory.connector import MemoryConnector


@sergeant.hookimpl
def sergeant_register_connectors(registry: ConnectorTypes) -> None:
    registry.add_connector(MemoryConnector)
