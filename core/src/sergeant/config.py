"""User-facing configuration objects.

``Connector`` says where tasks live, exactly as in Sergeant's documentation::

    sergeant.config.Connector(
        type='redis',
        params={'nodes': [{'host': 'localhost', 'port': 6379, 'password': None, 'database': 0}]},
    )

Worker configuration (``WorkerConfig`` and friends) lives in
:mod:`sergeant.worker_config` and ``Connector`` in :mod:`sergeant._connector_config`;
both are re-exported here, their public home.
"""

from __future__ import annotations

from sergeant._connector_config import Connector

# Worker configuration, re-exported so ``sergeant.config.WorkerConfig`` works as in Sergeant.
from sergeant.worker_config import (
    Encoder,
    Logging,
    LoggingEvents,
    Starvation,
    Timeouts,
    WorkerConfig,
)

__all__ = [
    "Connector",
    "Encoder",
    "Logging",
    "LoggingEvents",
    "Starvation",
    "Timeouts",
    "WorkerConfig",
]
