"""Plugin module named by the ``redis`` entry point of the ``sergeant.connectors`` group."""

from __future__ import annotations

import importlib

import redis.connection
import redis.utils
import sergeant
from sergeant.config import Connector as ConnectorConfig
from sergeant.registry import ConnectorTypes

from sergeant_redis.connector import RedisConnector

__all__ = [
    "sergeant_connector_from_url",
    "sergeant_connector_url_schemes",
    "sergeant_plugin_notes",
    "sergeant_register_connectors",
]


@sergeant.hookimpl
def sergeant_register_connectors(registry: ConnectorTypes) -> None:
    """Add :class:`RedisConnector` under the type ``'redis'``."""
    registry.add_connector(RedisConnector)


@sergeant.hookimpl
def sergeant_connector_url_schemes() -> dict[str, str]:
    """``redis://`` and, over TLS, ``rediss://``: one node."""
    return {
        "redis": "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]",
        "rediss": "rediss://[[USER]:PASSWORD@]HOST[:PORT][/DB]",
    }


@sergeant.hookimpl
def sergeant_connector_from_url(url: str) -> ConnectorConfig | None:
    """A ``redis://`` or ``rediss://`` url: the ``redis`` type with that one node
    (the params check reads the url, and says what is wrong with it)."""
    scheme, separator, _ = url.partition("://")
    if not separator or scheme.lower() not in ("redis", "rediss"):
        return None
    return ConnectorConfig(type="redis", params={"nodes": [url]})


@sergeant.hookimpl
def sergeant_plugin_notes(type_name: str) -> list[str]:
    """What ``sergeant plugins`` prints under the type: which reply parser redis-py uses.

    hiredis (C) is a dependency; where it cannot be imported (no wheel for the
    platform, a failed build) redis-py parses replies in Python, which works but
    costs the worker CPU on every reply.
    """
    if type_name != RedisConnector.type_name:
        return []
    parser = redis.connection.DefaultParser.__name__
    if redis.utils.HIREDIS_AVAILABLE:
        version = importlib.import_module("hiredis").__version__
        return [f"reply parser: hiredis {version} (C, {parser})"]
    try:
        found = importlib.import_module("hiredis")
    except ImportError as exc:
        reason = f"hiredis cannot be imported: {exc}"
    else:
        reason = f"hiredis {found.__version__} is older than redis-py {redis.__version__} uses"
    return [f"reply parser: Python ({parser}; {reason}); pip install 'hiredis>=3.2' for the C one"]
