"""Worker classes :mod:`test_worker_hostile` runs in real processes.

:class:`Cancelled` keeps a non-daemon thread alive (as a user's client library
may) and its task raises ``asyncio.CancelledError``, a ``BaseException`` no
handler of the worker takes.
"""

from __future__ import annotations

import asyncio
import threading

import sergeant
from e2e_workers import base_config
from sergeant.config import WorkerConfig


class Cancelled(sergeant.Worker):
    """Every task raises ``asyncio.CancelledError``; a non-daemon thread never ends."""

    def generate_config(self) -> WorkerConfig:
        return base_config()

    def initialize(self) -> None:
        threading.Thread(target=threading.Event().wait, name="user-non-daemon").start()

    def work(self, task: sergeant.Task) -> None:
        raise asyncio.CancelledError()
