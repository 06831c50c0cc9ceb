"""The README's key layout is what a live server holds.

The "Key layout" table in ``plugins/redis/README.md`` is the one description
of the keys the connector writes. These tests parse it and drive a fresh
redis-server through pushes (NORMAL, HIGH, delayed), a reserve, an ack, a
partial extend, releases (now and later), a key and a lock; then every key on
the server must match exactly one row and have that row's type and expiry, and
every row must be met. A change to the Lua that the table does not follow
fails here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis_helpers import items
from sergeant.connector import Connector
from sergeant_redis import scripts
from sergeant_test_support.redis_fixtures import RedisServer

Connectors = Callable[..., Connector]

README = Path(__file__).resolve().parents[1] / "README.md"
QUEUE = "layout"
KEY = "layout-key"
LOCK = "layout-lock"
LATER = 3600.0
HINTED = "layout-hinted"

#: What a placeholder of the table stands for in a key name.
PLACEHOLDERS = {"<token>": "[0-9a-f]{16}", "<k>": "[0-9]+"}
ANY_PART = "[^:]+"


class Row:
    """One row of the table: the key patterns it names, its type and expiry."""

    def __init__(self, keys: list[str], kind: str, expires: str) -> None:
        self.keys = keys
        self.kind = kind
        self.expires = expires
        self.patterns = [re.compile(_regex(key)) for key in keys]

    def matches(self, key: str) -> bool:
        return any(pattern.fullmatch(key) for pattern in self.patterns)


def _regex(key: str) -> str:
    parts = re.split(r"(<[a-z]+>)", key)
    return "".join(
        PLACEHOLDERS.get(part, ANY_PART) if part.startswith("<") else re.escape(part)
        for part in parts
        if part
    )


def layout_rows() -> list[Row]:
    """The rows of the table under ``## Key layout`` in the README."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Key layout\n", 1)[1].split("\n#", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[:3] == ["key", "type", "expires"], header
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append(Row(re.findall(r"`([^`]+)`", cells[0]), cells[1], cells[2]))
    return rows


def test_the_table_names_every_key_the_queue_scripts_are_given() -> None:
    named = {key for row in layout_rows() for key in row.keys}
    for part in scripts.KEY_PARTS:
        assert f"sergeant:queue:<name>:{part}" in named, part


@pytest.fixture
def busy_server(
    redis_server_factory: Callable[..., RedisServer], connectors: Connectors
) -> Iterator[RedisServer]:
    """A fresh server after one of each thing the connector stores (the lock
    held until the test ends: a collected lock frees itself)."""
    server = redis_server_factory()
    connector = connectors([server])
    connector.queue_push_bulk(QUEUE, items(6, "normal"))
    connector.queue_push_bulk(QUEUE, items(2, "high"), priority="HIGH")
    connector.queue_push(QUEUE, b"due-later", consumable_from=time.time() + LATER)
    connector.queue_push(
        QUEUE, b"due-later-high", priority="HIGH", consumable_from=time.time() + LATER
    )
    batch = [d.receipt for d in connector.queue_reserve(QUEUE, 6, 600)]
    assert len(batch) == 6
    connector.queue_push(QUEUE, b"late-high", priority="HIGH")
    # batch: high-000, high-001, normal-000 .. normal-003 (items 1..6)
    assert connector.queue_release(QUEUE, [batch[0]]) == 1, "HIGH, handed out before"
    assert connector.queue_ack(QUEUE, [batch[2]]) == 1
    assert connector.queue_extend(QUEUE, [batch[3]], 900) == 1, "split off"
    assert connector.queue_release(QUEUE, [batch[4]]) == 1, "NORMAL, handed out before"
    assert connector.queue_release(QUEUE, [batch[5]], time.time() + LATER) == 1
    connector.key_set(KEY, b"value")
    lock = connector.lock(LOCK)
    assert lock.acquire(timeout=30, ttl=600)
    # Last, as the hint it writes lives a second: a reserve on an empty queue.
    assert len(connector.queue_reserve(HINTED, 1, 600)) == 0
    yield server
    lock.release()


def test_every_key_on_the_server_is_as_the_table_says(busy_server: RedisServer) -> None:
    rows = layout_rows()
    client = redis.Redis(host=busy_server.host, port=busy_server.port)
    met: set[int] = set()
    keys = sorted(key.decode() for key in client.scan_iter(count=1000))
    assert keys, "the scenario stored something"
    for key in keys:
        matching = [i for i, row in enumerate(rows) if row.matches(key)]
        assert len(matching) == 1, f"{key} matches rows {matching} of the table"
        row = rows[matching[0]]
        met.add(matching[0])
        ttl = client.pttl(key)
        if ttl == -2 and row.expires != "never":
            continue  # it expired since the SCAN, as its row says it does
        assert client.type(key).decode() == row.kind, key
        if row.expires == "never":
            assert ttl == -1, f"{key} expires in {ttl} ms"
        else:
            assert ttl > 0, f"{key} should expire ({row.expires})"
    unmet = [row.keys for i, row in enumerate(rows) if i not in met]
    assert unmet == [], "the scenario meets every row"


def test_entries_and_delayed_members_are_encoded_as_the_table_says(
    busy_server: RedisServer,
) -> None:
    client = redis.Redis(host=busy_server.host, port=busy_server.port)
    prefix = f"sergeant:queue:{QUEUE}:"
    assert client.lrange(prefix + "retry_high", 0, -1) == [b"H1:high-000"]
    assert client.lrange(prefix + "retry_normal", 0, -1) == [b"N1:normal-002"]
    assert client.lrange(prefix + "high", 0, -1) == [b"late-high"]
    assert client.lrange(prefix + "normal", 0, -1) == [b"normal-004", b"normal-005"]
    delayed = [member.decode() for member in client.zrange(prefix + "delayed", 0, -1)]
    assert sorted(member[16:] for member in delayed) == [
        "H0:due-later-high",
        "N0:due-later",
        "N1:normal-003",
    ]
    assert all(re.fullmatch("[0-9a-f]{16}", member[:16]) for member in delayed)
    assert int(client.get(prefix + "seq") or 0) >= len(delayed)
