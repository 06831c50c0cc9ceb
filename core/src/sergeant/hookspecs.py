"""Hook specifications for connector plugins (pluggy project ``sergeant``).

A plugin is a module named by an entry point in the ``sergeant.connectors``
group; the entry point's name is the connector ``type``. The module implements
hooks with :data:`sergeant.hookimpl`::

    import sergeant

    @sergeant.hookimpl
    def sergeant_register_connectors(registry):
        registry.add_connector(MyConnector)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from sergeant.config import Connector as ConnectorConfig
    from sergeant.connector import Connector
    from sergeant.registry import ConnectorTypes

__all__ = ["hookimpl", "hookspec", "sergeant_connector_created", "sergeant_register_connectors"]

PROJECT_NAME = "sergeant"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def sergeant_register_connectors(registry: ConnectorTypes) -> None:
    """Add this plugin's connector classes to ``registry``.

    Called once, right after the plugin module is loaded. Call
    ``registry.add_connector(cls)`` for each class; it is keyed by ``cls.type_name``,
    which must equal the entry point's name.

    :param registry: the registry to add connector classes to.
    """


@hookspec
def sergeant_connector_created(connector: Connector, config: ConnectorConfig) -> None:
    """Called after :func:`sergeant.connect` built a connector, for instrumentation.

    Every registered plugin's implementation is called (no result is used).

    :param connector: the live connector about to be returned to the caller.
    :param config: the configuration it was built from (its repr hides passwords).
    """
