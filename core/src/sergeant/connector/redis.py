"""Sergeant's ``sergeant.connector.redis``: ``Connector(nodes)`` on our ``redis`` plugin.

Importing this module imports no driver; calling :class:`Connector` loads the
``sergeant-redis`` plugin (``pip install sergeant-redis``) and returns its
connector, exactly as :func:`sergeant.connect` would for
``sergeant.config.Connector(type='redis', params={'nodes': nodes, **params})``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sergeant.connector import Connector as LiveConnector
from sergeant.connector._facade import ConnectorFacade, build

__all__ = ["Connector"]


class Connector(metaclass=ConnectorFacade):
    """``Connector(nodes, **params)``: independent Redis servers, each
    ``{'host', 'port', 'password', 'database'}`` as in Sergeant, plus what the
    ``redis`` plugin also accepts (TLS, ``url``; see its README)."""

    connector_type: ClassVar[str] = "redis"

    # Returns our backend's connector, not an instance of this class: mypy allows it,
    # and callers get the connector type they use.
    def __new__(cls, nodes: list[dict[str, Any]], **params: Any) -> LiveConnector:  # type: ignore[misc]
        """Build the connector (see the class doc)."""
        return build(cls.connector_type, {"nodes": nodes, **params})
