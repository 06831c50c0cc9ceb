"""Sergeant's ``sergeant.connector.local``: ``Connector(file_path)`` on our ``local`` plugin.

Calling :class:`Connector` loads the ``sergeant-local`` plugin
(``pip install sergeant-local``) and returns its connector, exactly as
:func:`sergeant.connect` would for
``sergeant.config.Connector(type='local', params={'file_path': file_path, **params})``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sergeant.connector import Connector as LiveConnector
from sergeant.connector._facade import ConnectorFacade, build

__all__ = ["Connector"]


class Connector(metaclass=ConnectorFacade):
    """``Connector(file_path, **params)``: one SQLite file, as in Sergeant, plus what
    the ``local`` plugin also accepts (``busy_timeout_seconds``, ``synchronous``)."""

    connector_type: ClassVar[str] = "local"

    # Returns our backend's connector, not an instance of this class: mypy allows it,
    # and callers get the connector type they use.
    def __new__(cls, file_path: str, **params: Any) -> LiveConnector:  # type: ignore[misc]
        """Build the connector (see the class doc)."""
        return build(cls.connector_type, {"file_path": file_path, **params})
