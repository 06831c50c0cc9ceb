"""sergeant-mongo: the ``mongo`` connector for sergeant.

Install ``sergeant-mongo`` and use ``sergeant.config.Connector(type='mongo',
params={'nodes': [{'host': 'localhost', 'port': 27017, 'replica_set': 'rs0'}]})``.
"""

from sergeant_mongo._params import MongoParams, NodeParams
from sergeant_mongo.connector import MongoConnector

__all__ = ["MongoConnector", "MongoParams", "NodeParams"]
