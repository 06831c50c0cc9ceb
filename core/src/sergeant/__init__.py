"""sergeant: a task queue whose storage layer, the connector, is a plugin.

``import sergeant`` imports no backend and no driver; :func:`connect` loads only
the plugin of the requested connector type.
"""

from __future__ import annotations

from sergeant import config, errors, registry
from sergeant._connect import connect
from sergeant.connector import Connector, Delivery, Lock, NodeStats
from sergeant.hookspecs import hookimpl
from sergeant.plugins import PluginPolicy

__all__ = [
    "Connector",
    "Delivery",
    "Lock",
    "NodeStats",
    "PluginPolicy",
    "config",
    "connect",
    "errors",
    "hookimpl",
    "registry",
]

__version__ = "0.1.0"

# The task queue on top of the connector (appended by the worker work).
from sergeant import worker
from sergeant.broker import Broker
from sergeant.task import Task
from sergeant.worker import Worker

__all__ = [*__all__, "Broker", "Task", "Worker", "worker"]

# The modules Sergeant 0.27.0's ``import sergeant`` exposes, with the submodules its
# users reach through them (``sergeant.connector.redis.Connector(...)``,
# ``sergeant.encoder.encoder.Encoder(...)``, ``sergeant.logging.logstash``). None of
# them imports a backend driver. After ``worker``, which the executor needs first.
from sergeant import broker, connector, encoder, executor, killer, logging, objects
from sergeant.connector import local as _local
from sergeant.connector import mongo as _mongo
from sergeant.connector import redis as _redis
from sergeant.encoder import encoder as _encoder
from sergeant.logging import logstash as _logstash

__all__ = [*__all__, "broker", "connector", "encoder", "executor", "killer", "logging", "objects"]
del _local, _mongo, _redis, _encoder, _logstash
