"""Where the examples keep their queues: one SQLite file for the ``local`` backend.

Set ``SERGEANT_EXAMPLES_DB`` to use another file.
"""

from __future__ import annotations

import os
import tempfile

import sergeant

__all__ = ["connector"]


def connector() -> sergeant.config.Connector:
    """The examples' connector: the ``local`` backend on one SQLite file."""
    default = os.path.join(tempfile.gettempdir(), "sergeant_examples.sqlite3")
    return sergeant.config.Connector(
        type="local", params={"file_path": os.environ.get("SERGEANT_EXAMPLES_DB", default)}
    )
