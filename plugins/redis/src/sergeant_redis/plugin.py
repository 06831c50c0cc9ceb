"""Plugin module named by the ``redis`` entry point of the ``sergeant.connectors`` group."""

from __future__ import annotations

import importlib

import redis.connection
import redis.utils
import sergeant
from sergeant.registry import ConnectorTypes

from sergeant_redis.connector import RedisConnector

__all__ = ["plugin_notes", "sergeant_register_connectors"]


@sergeant.hookimpl
def sergeant_register_connectors(registry: ConnectorTypes) -> None:
    """Add :class:`RedisConnector` under the type ``'redis'``."""
    registry.add_connector(RedisConnector)


def plugin_notes(type_name: str) -> list[str]:
    """What ``sergeant plugins`` prints under the type: which reply parser redis-py uses.

    hiredis (C) is a dependency; where it cannot be imported (no wheel for the
    platform, a failed build) redis-py parses replies in Python, which works but
    costs the worker CPU on every reply.
    """
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
