"""sergeant-mongo: the ``mongo`` connector for sergeant.

Install ``sergeant-mongo`` and use ``sergeant.config.Connector(type='mongo',
params={'nodes': [{'host': 'localhost', 'port': 27017, 'replica_set': 'rs0'}]})``.

The connector loads on first use: checking params (:mod:`sergeant_mongo._params`)
imports ``pymongo`` only to read a node's ``uri``, with pymongo's own parser.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sergeant_mongo._params import MongoParams, NodeParams

if TYPE_CHECKING:
    from sergeant_mongo.connector import MongoConnector

__all__ = ["MongoConnector", "MongoParams", "NodeParams"]


def __getattr__(name: str) -> Any:
    if name == "MongoConnector":
        return importlib.import_module("sergeant_mongo.connector").MongoConnector
    raise AttributeError(f"module 'sergeant_mongo' has no attribute {name!r}")
