"""The worker :mod:`test_poison` runs in real processes.

:class:`HostileRecorder` is the e2e ``Recorder`` (it records each finished run on
``<queue>:ran`` and SIGKILLs its own process on a task with ``poison``) with the
encoder's compressor and ``max_payload_bytes`` taken from the test's options, and
two more ways to die: a task with ``exit`` ends its process with ``os._exit(1)``,
and one with ``sys_exit`` calls ``sys.exit(code)`` once it has run (as a click
command run standalone does).
"""

from __future__ import annotations

import os
import sys

import sergeant
from e2e_workers import Recorder, base_config, options
from sergeant.config import Encoder, WorkerConfig
from sergeant.encoder import DEFAULT_MAX_PAYLOAD_BYTES


class HostileRecorder(Recorder):
    """Recorder with ``compressor`` and ``max_payload_bytes`` options."""

    def generate_config(self) -> WorkerConfig:
        opts = options()
        return base_config().replace(
            encoder=Encoder(compressor=opts.get("compressor")),
            max_payload_bytes=opts.get("max_payload_bytes", DEFAULT_MAX_PAYLOAD_BYTES),
        )

    def work(self, task: sergeant.Task) -> None:
        if task.kwargs.get("exit"):
            os._exit(1)
        super().work(task)
        if "sys_exit" in task.kwargs:
            sys.exit(task.kwargs["sys_exit"])
