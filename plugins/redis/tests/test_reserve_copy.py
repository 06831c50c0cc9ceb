"""Large reserves copy fresh items into their lease natively.

An item passing through Lua costs redis-server several times an ``LPOP`` of it,
so a reserve of at least 32 items whose first items in line are fresh (never
handed out) has the script copy those into the call's lease group (a list of at
most twice the count whole with ``COPY``, then cut; a longer one with ``SORT
<list> BY nosort LIMIT 0 n STORE``), ``LTRIM`` them off the list and read them
back with ``LRANGE``; retried items (their delivery count changes) still go
through Lua. These tests prove the copy happens by the way meant, keeps the
order, the priorities and the delivery counts, that a user whose ACL lacks one
of the commands gets the Lua path, and that a lease lost before the read hands
out nothing rather than misnumbered receipts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
from redis_helpers import command_calls, items
from sergeant.connector import Connector
from sergeant.testing import wait_until
from sergeant_redis import connector as redis_connector
from sergeant_redis import scripts
from sergeant_test_support.redis_fixtures import RedisServer

Connectors = Callable[..., Connector]


def new_queue() -> str:
    return f"copy-{uuid.uuid4().hex[:8]}"


def native_copies(server: RedisServer) -> int:
    """Native copies the server has run, either way."""
    return command_calls(server, "sort") + command_calls(server, "copy")


def probed(connector: Any, queue: str) -> None:
    """Run a first script call: its ACL probe (which itself calls SORT and COPY once)
    tells the node whether reserves may copy."""
    connector.queue_length(queue)


@pytest.mark.parametrize(
    ("backlog", "count", "way"),
    [
        (50, 40, "copy"),  # at most twice the count: COPY the list whole, cut the copy
        (35, 40, "copy"),  # fewer than asked for: all of them
        (81, 40, "sort"),  # longer: SORT .. STORE just the count
    ],
)
def test_a_large_reserve_copies_fresh_items_natively_in_order(
    redis_server: RedisServer, connectors: Connectors, backlog: int, count: int, way: str
) -> None:
    connector: Any = connectors([redis_server])
    queue = new_queue()
    connector.queue_push_bulk(queue, items(backlog))
    probed(connector, queue)
    before = {c: command_calls(redis_server, c) for c in ("copy", "sort")}
    batch = connector.queue_reserve(queue, count, 60)
    after = {c: command_calls(redis_server, c) for c in ("copy", "sort")}
    assert {c: after[c] - before[c] for c in after} == {c: int(c == way) for c in ("copy", "sort")}
    taken = min(backlog, count)
    assert [d.item for d in batch] == items(backlog)[:taken]
    assert {d.deliveries for d in batch} == {1}
    lease = f"{connector._queue(queue).keys[5]}:{batch.receipts()[0].split(':')[1]}"
    assert connector.nodes[0].execute("LLEN", lease) == taken, "the copy holds just the batch"
    assert connector.queue_ack(queue, batch.receipts()) == taken
    assert connector.queue_length(queue) == backlog - taken
    assert [row.in_flight for row in connector.queue_stats(queue)] == [0]
    rest = connector.queue_reserve(queue, count, 60)
    assert [d.item for d in rest] == items(backlog)[taken : taken + count]


def test_a_small_reserve_does_not_copy(redis_server: RedisServer, connectors: Connectors) -> None:
    connector: Any = connectors([redis_server])
    queue = new_queue()
    connector.queue_push_bulk(queue, items(50))
    probed(connector, queue)
    before = native_copies(redis_server)
    batch = connector.queue_reserve(queue, redis_connector._BULK - 1, 60)
    assert len(batch) == redis_connector._BULK - 1
    assert native_copies(redis_server) == before


def test_copied_and_lua_items_share_one_lease_in_priority_order(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    """HIGH fresh items are copied, the NORMAL ones after them go through Lua;
    released, they come back first, each with its second delivery."""
    connector: Any = connectors([redis_server])
    queue = new_queue()
    connector.queue_push_bulk(queue, [b"n-%d" % i for i in range(10)])
    connector.queue_push_bulk(queue, [b"h-%d" % i for i in range(40)], priority="HIGH")
    probed(connector, queue)
    before = native_copies(redis_server)
    batch = connector.queue_reserve(queue, 100, 60)
    assert native_copies(redis_server) == before + 1
    expected = [b"h-%d" % i for i in range(40)] + [b"n-%d" % i for i in range(10)]
    assert [d.item for d in batch] == expected
    assert connector.queue_release(queue, batch.receipts()) == 50
    again = connector.queue_reserve(queue, 100, 60)
    assert [(d.item, d.deliveries) for d in again] == [(item, 2) for item in expected]
    assert connector.queue_ack(queue, again.receipts()) == 50
    assert connector.queue_length(queue, include_delayed=True) == 0


def test_a_retried_item_first_in_line_is_not_copied_and_keeps_its_count(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    connector: Any = connectors([redis_server])
    queue = new_queue()
    connector.queue_push_bulk(queue, items(40))
    first = connector.queue_reserve(queue, 1, 60)
    assert connector.queue_release(queue, first.receipts()) == 1
    probed(connector, queue)
    before = native_copies(redis_server)
    batch = connector.queue_reserve(queue, 40, 60)
    assert native_copies(redis_server) == before
    assert [(d.item, d.deliveries) for d in batch][:2] == [(b"item-000", 2), (b"item-001", 1)]
    assert [d.item for d in batch] == items(40)


@pytest.mark.parametrize("refused", ["sort", "copy", "ltrim"])
def test_a_user_without_a_copying_command_reserves_through_lua(
    redis_server_factory: Callable[..., RedisServer], connectors: Connectors, refused: str
) -> None:
    server = redis_server_factory(
        extra_config=["user default off", f"user app on >app-secret ~sergeant:* +@all -{refused}"]
    )
    connector: Any = connectors([server], username="app", password="app-secret")
    queue = new_queue()
    connector.queue_push_bulk(queue, items(50))
    probed(connector, queue)
    batch = connector.queue_reserve(queue, 40, 60)
    assert [d.item for d in batch] == items(50)[:40]
    assert connector.nodes[0].native_copy is False
    assert connector.queue_ack(queue, batch.receipts()) == 40


def test_a_lease_lost_before_the_read_hands_out_nothing(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    """The copied items are read after the script: if the lease ran out and was
    taken back meanwhile, the call must hand out none of its items (they are all
    back in the lists), not the ones that came through Lua under wrong numbers."""
    connector: Any = connectors([redis_server])
    queue = new_queue()
    connector.queue_push_bulk(queue, [b"n-%d" % i for i in range(10)])
    connector.queue_push_bulk(queue, [b"h-%d" % i for i in range(40)], priority="HIGH")
    node, keys = connector.nodes[0], connector._queue(queue).keys
    probed(connector, queue)
    token = "lost-lease"
    reply = node.script(scripts.RESERVE, keys, 100, "0.001", token, "1")
    assert int(reply[2]) == 40
    assert len(reply[0]) == 10

    def taken_back() -> bool:  # (queue_length counts expired leases as ready: not enough)
        node.script(scripts.MAINTAIN, keys, 1000)
        return node.execute("EXISTS", f"{keys[5]}:{token}") == 0

    wait_until(taken_back, timeout=20, message="the expired lease to be taken back")
    assert connector.queue_length(queue) == 50
    assert redis_connector._reserved(node, keys, token, reply) == ([], [])


def lrange_calls_made_apart(connector: Any, monkeypatch: Any) -> list[tuple[Any, ...]]:
    """The LRANGEs the connector runs as a call of their own (a round trip each)."""
    node = connector.nodes[0]
    made: list[tuple[Any, ...]] = []
    execute = node.execute

    def counting(*args: Any) -> Any:
        if args[0] == "LRANGE":
            made.append(args)
        return execute(*args)

    monkeypatch.setattr(node, "execute", counting)
    return made


def test_reserves_read_the_copied_items_in_the_same_round_trip(
    redis_server: RedisServer, connectors: Connectors, monkeypatch: Any
) -> None:
    connector: Any = connectors([redis_server])
    queue = new_queue()
    connector.queue_push_bulk(queue, items(100))
    probed(connector, queue)
    apart = lrange_calls_made_apart(connector, monkeypatch)
    first = connector.queue_reserve(queue, 40, 60)
    assert [d.item for d in first] == items(100)[:40]
    before = native_copies(redis_server)
    acked, batch = connector.queue_ack_and_reserve_begin(queue, first.receipts(), 40, 60)()
    assert native_copies(redis_server) == before + 1
    assert acked == 40
    assert [d.item for d in batch] == items(100)[40:80]
    assert apart == []


def test_a_reserve_sent_ahead_and_run_again_after_a_script_flush_reads_its_items(
    redis_server: RedisServer, connectors: Connectors
) -> None:
    """After ``SCRIPT FLUSH`` the script sent ahead is refused and made again
    after the LRANGE sent behind it has run (on a lease not written yet): the
    items are read again rather than lost to their lease."""
    connector: Any = connectors([redis_server])
    queue = new_queue()
    connector.queue_push_bulk(queue, items(100))
    probed(connector, queue)
    connector.queue_ack_and_reserve_begin(queue, [], 40, 60)()  # the scripts are loaded
    client = redis.Redis(host=redis_server.host, port=redis_server.port)
    client.script_flush()
    _, batch = connector.queue_ack_and_reserve_begin(queue, [], 40, 60)()
    assert [d.item for d in batch] == items(100)[40:80]
    assert connector.queue_ack(queue, batch.receipts()) == 40


@pytest.mark.parametrize("way", ["copy", "sort"])
def test_copied_items_come_back_byte_for_byte(
    redis_server: RedisServer, connectors: Connectors, way: str
) -> None:
    """Neither way reads an item as a number or a string (``SORT .. BY nosort``
    sorts nothing): empty, binary, numeric-looking and large items keep their
    bytes and order."""
    connector: Any = connectors([redis_server])
    queue = new_queue()
    odd = [b"", b"\x00", b"\xff\xfe", b"-1", b"1e9", b"nan", b" ", b"x" * 100_000]
    pushed = odd + [bytes([i]) * (i + 1) for i in range(32)]
    behind = items(2 * len(pushed) + 1) if way == "sort" else []  # makes the list long
    connector.queue_push_bulk(queue, pushed + behind)
    probed(connector, queue)
    before = command_calls(redis_server, way)
    batch = connector.queue_reserve(queue, len(pushed), 60)
    assert command_calls(redis_server, way) == before + 1
    assert [d.item for d in batch] == pushed


@pytest.mark.parametrize(
    "config",
    [
        ["list-compress-depth 1", "list-max-listpack-size 4"],  # tiny nodes, compressed
        ["list-compress-depth 2", "list-max-listpack-size -1"],
    ],
)
def test_copies_keep_order_whatever_the_list_encoding(
    redis_server_factory: Callable[..., RedisServer], connectors: Connectors, config: list[str]
) -> None:
    """``COPY`` duplicates a list's nodes as they are (compressed or not) and the
    ``LTRIM``s cut through them: the batch, the items left behind and the same
    items handed out again keep their order and bytes."""
    server = redis_server_factory(extra_config=config)
    connector: Any = connectors([server])
    queue = new_queue()
    pushed = [b"%05d" % i + b"x" * (i % 3000) for i in range(1500)]
    connector.queue_push_bulk(queue, pushed)
    probed(connector, queue)
    before = command_calls(server, "copy")
    first = connector.queue_reserve(queue, 1000, 60)  # 1,500 copied, the copy cut to 1,000
    rest = connector.queue_reserve(queue, 1000, 60)  # the 500 left, copied whole
    assert command_calls(server, "copy") == before + 2
    assert [d.item for d in first] == pushed[:1000]
    assert [d.item for d in rest] == pushed[1000:]
    assert connector.queue_release(queue, first.receipts()) == 1000
    again = connector.queue_reserve(queue, 1000, 60)
    assert [(d.item, d.deliveries) for d in again] == [(item, 2) for item in pushed[:1000]]
    assert connector.queue_ack(queue, again.receipts() + rest.receipts()) == 1500
    assert connector.queue_length(queue, include_delayed=True) == 0
