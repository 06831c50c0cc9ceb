"""sergeant-redis: sergeant's connector on one or more independent redis-servers.

Installed, it provides the connector type ``'redis'``::

    sergeant.config.Connector(
        type='redis',
        params={'nodes': [{'host': 'localhost', 'port': 6379, 'password': None, 'database': 0}]},
    )

The classes load on first use: checking params (:mod:`sergeant_redis.params`)
must not import the ``redis`` driver.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sergeant_redis.connector import RedisConnector
    from sergeant_redis.lock import RedisLock

__all__ = ["RedisConnector", "RedisLock"]

_LAZY = {"RedisConnector": "sergeant_redis.connector", "RedisLock": "sergeant_redis.lock"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sergeant_redis' has no attribute {name!r}")
