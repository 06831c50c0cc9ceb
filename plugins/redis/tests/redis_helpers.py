"""Helpers for the redis suite (imported by its test modules)."""

from __future__ import annotations

from typing import Any

import redis
import sergeant
from sergeant.connector import Connector
from sergeant_test_support.redis_fixtures import RedisServer


def connect(servers: list[RedisServer], **node_extra: Any) -> Connector:
    """A connector through the registry, as a user would build it."""
    config = sergeant.config.Connector(
        type="redis", params={"nodes": [server.node(**node_extra) for server in servers]}
    )
    return sergeant.connect(config)


def items(count: int, tag: str = "item") -> list[bytes]:
    """``count`` distinct payloads, in order: ``item-000``, ``item-001``, ..."""
    return [f"{tag}-{i:03d}".encode() for i in range(count)]


def command_calls(server: RedisServer, command: str) -> int:
    """How many times the server has run ``command`` (lower case), scripts' calls included."""
    client = redis.Redis(host=server.host, port=server.port, password=server.password)
    stats: dict[str, Any] = client.info("commandstats")
    client.close()
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))
