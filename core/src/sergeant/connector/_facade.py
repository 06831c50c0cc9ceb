"""Sergeant's per-backend connector classes, resolved through our registry.

``sergeant.connector.redis.Connector(nodes=[...])`` and its ``local`` and
``mongo`` siblings are facades: calling one builds
``sergeant.config.Connector(type=..., params=...)`` and returns what
:func:`sergeant.connect` returns, our backend's connector, loaded from its
plugin only then. ``isinstance`` against a facade is true for a connector of
that type.
"""

from __future__ import annotations

from typing import Any

from sergeant.connector import Connector

__all__ = ["ConnectorFacade", "build"]


class ConnectorFacade(type):
    """Metaclass of the facades: ``isinstance(obj, facade)`` is true for a live
    connector of the facade's ``connector_type``."""

    connector_type: str

    def __instancecheck__(cls, instance: Any) -> bool:
        return (
            isinstance(instance, Connector)
            and getattr(instance, "type_name", None) == cls.connector_type
        )


def build(connector_type: str, params: dict[str, Any]) -> Connector:
    """What :func:`sergeant.connect` returns for ``connector_type`` and ``params``."""
    from sergeant._connect import connect
    from sergeant.config import Connector as ConnectorConfig

    return connect(ConnectorConfig(type=connector_type, params=params))
