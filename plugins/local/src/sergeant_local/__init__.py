"""sergeant-local: the ``local`` connector, every queue, key and lock in one SQLite file.

Users reach it through ``sergeant.connect``::

    config = sergeant.config.Connector(
        type='local', params={'file_path': '/tmp/sergeant_db.sqlite3'}
    )
    with sergeant.connect(config) as queue:
        queue.queue_push('emails', b'hello')

The connector and lock load on first use: checking params
(:mod:`sergeant_local.params`, the ``sergeant.connector_params`` entry point)
imports neither them nor ``sqlite3``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sergeant_local.params import LocalParams, default_file_path

if TYPE_CHECKING:
    from sergeant_local.connector import LocalConnector
    from sergeant_local.lock import LocalLock

__all__ = ["LocalConnector", "LocalLock", "LocalParams", "default_file_path"]

_LAZY = {"LocalConnector": "sergeant_local.connector", "LocalLock": "sergeant_local.lock"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sergeant_local' has no attribute {name!r}")
