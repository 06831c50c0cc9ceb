"""sergeant-local: the ``local`` connector, every queue, key and lock in one SQLite file.

Users reach it through ``sergeant.connect``::

    config = sergeant.config.Connector(
        type='local', params={'file_path': '/tmp/sergeant_db.sqlite3'}
    )
    with sergeant.connect(config) as queue:
        queue.queue_push('emails', b'hello')
"""

from __future__ import annotations

from sergeant_local.connector import LocalConnector
from sergeant_local.lock import LocalLock
from sergeant_local.params import LocalParams, default_file_path

__all__ = ["LocalConnector", "LocalLock", "LocalParams", "default_file_path"]
