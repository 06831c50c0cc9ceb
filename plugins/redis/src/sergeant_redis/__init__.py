"""sergeant-redis: sergeant's connector on one or more independent redis-servers.

Installed, it provides the connector type ``'redis'``::

    sergeant.config.Connector(
        type='redis',
        params={'nodes': [{'host': 'localhost', 'port': 6379, 'password': None, 'database': 0}]},
    )
"""

from sergeant_redis.connector import RedisConnector
from sergeant_redis.lock import RedisLock

__all__ = ["RedisConnector", "RedisLock"]
