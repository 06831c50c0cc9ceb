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

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from sergeant.config import Connector as ConnectorConfig
    from sergeant.connector import Connector
    from sergeant.registry import ConnectorTypes

__all__ = [
    "hookimpl",
    "hookspec",
    "sergeant_connector_created",
    "sergeant_connector_from_url",
    "sergeant_connector_url_schemes",
    "sergeant_plugin_notes",
    "sergeant_register_connectors",
]

PROJECT_NAME = "sergeant"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def sergeant_register_connectors(registry: ConnectorTypes) -> None:
    """Add this plugin's connector classes to ``registry``.

    Called once, right after the plugin module is loaded. Call
    ``registry.add_connector(cls)`` for each class; it is keyed by ``cls.type_name``,
    which must equal the entry point's name.

    :param registry: the :class:`~sergeant.registry.ConnectorTypes` table of the
        loading :class:`~sergeant.registry.Registry`, to add connector classes to
        (the name ``registry`` stays: pluggy passes arguments by name, so plugins
        written against it keep working).
    """


@hookspec
def sergeant_connector_created(connector: Connector, config: ConnectorConfig) -> None:
    """Called after :func:`sergeant.connect` built a connector, for instrumentation.

    Every registered plugin's implementation is called (no result is used).

    :param connector: the live connector about to be returned to the caller.
    :param config: the configuration it was built from (its repr hides passwords).
    """


@hookspec
def sergeant_connector_url_schemes() -> Mapping[str, str]:
    """The url schemes this plugin reads in :func:`sergeant_connector_from_url`.

    A url names a connector in one string, as users write it for the CLI's
    ``--connector`` or ``$SERGEANT_CONNECTOR``: ``redis://HOST:PORT/DB``,
    ``mongodb://HOST``, ``local:PATH``. Core knows no scheme itself: it takes a
    url's scheme (the text before its first ``:``, compared in lower case), asks
    every installed plugin this hook, and hands the url to the one plugin that
    declares that scheme. The forms are shown to users in errors, e.g. for a
    url whose scheme no installed plugin reads.

    Return a mapping from each scheme (lower case, without ``:``) to the form
    users write, e.g. ``{'redis': 'redis://[:PASSWORD@]HOST[:PORT][/DB]'}``. A
    scheme declared by two installed plugins is an error when such a url is
    given (``DuplicateConnectorTypeError``), so declare only your own.
    """
    raise NotImplementedError  # a specification: plugins implement it


@hookspec(firstresult=True)
def sergeant_connector_from_url(url: str) -> ConnectorConfig | None:
    """The ``Connector`` config that ``url`` names, or None if this plugin cannot read it.

    Called only on the plugin that declares the url's scheme in
    :func:`sergeant_connector_url_schemes`. Return
    ``sergeant.config.Connector(type=..., params=...)`` for your own type,
    with the params the url stands for (constructing it checks them). Return
    None for a url of your scheme in a form you do not read: the user gets an
    error naming the url, with its password hidden, and the forms the installed
    plugins read. Raise :class:`~sergeant.errors.ConfigError` to say more, and
    pass the url through :func:`sergeant.redaction.redact` before showing it.

    :param url: the url as the user wrote it (surrounding spaces removed); its
        scheme may be in any case (``REDIS://``).
    """
    raise NotImplementedError  # a specification: plugins implement it


@hookspec
def sergeant_plugin_notes(type_name: str) -> Sequence[str]:
    """Lines ``sergeant plugins`` prints under the row of ``type_name`` (and lists
    as ``notes`` in ``--json``): how the plugin runs, e.g. whether an optional C
    extension is in use. Core does not read them.

    Called for every type whose plugin loaded; return no lines for types that are
    not yours. A note that raises becomes one line saying so: the command still
    succeeds.

    :param type_name: a connector type whose plugin loaded (maybe not yours).
    """
    raise NotImplementedError  # a specification: plugins implement it
