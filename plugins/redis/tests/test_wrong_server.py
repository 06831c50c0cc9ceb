"""Servers that answer but cannot serve as a node: a read-only replica, a
database index the server does not have, a server that lacks a command or is
full when the ACL probe runs. Each gets an error that says what is wrong and
the fix, not an ACL diagnosis or a bare server reply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sergeant
from sergeant.connector import Connector
from sergeant.errors import ConfigError, StorageError
from sergeant_redis.permissions import read_probe
from sergeant_test_support.redis_fixtures import RedisServer


def test_a_read_only_replica_is_named_as_such(
    redis_server_factory: Callable[..., RedisServer],
    connectors: Callable[..., Connector],
) -> None:
    primary = redis_server_factory()
    replica = redis_server_factory(extra_config=(f"replicaof {primary.host} {primary.port}",))
    connector = connectors([replica])
    calls: list[Callable[[], object]] = [
        lambda: connector.queue_reserve("q", 1, 10.0),  # the first script call: the probe
        lambda: connector.queue_push("q", b"x"),
        lambda: connector.key_set("k", b"v"),
    ]
    for call in calls:
        with pytest.raises(StorageError, match=r"\(nodes\[0\]\) is a read-only replica") as caught:
            call()
        assert "list its primary instead" in str(caught.value)
        assert "ACL" not in str(caught.value)


def test_a_database_the_server_does_not_have_names_the_field(
    redis_server: RedisServer, connectors: Callable[..., Connector]
) -> None:
    connector = connectors([redis_server], database=99)
    with pytest.raises(StorageError, match=r"has no database 99 \(nodes\[0\]\.database\)"):
        connector.queue_push("q", b"x")


def test_the_probe_reads_acl_refusals_missing_commands_and_nothing_else() -> None:
    probe = read_probe(
        [
            b"HSET",
            b"NOPERM User u has no permissions to run the 'hset' command",
            b"SORT",
            b"NOPERM User u has no permissions to run the 'sort' command",
            b"ZREM",
            b"ERR The user executing the script can't run this command or subcommand",
            b"LMPOP",
            b"ERR unknown command 'LMPOP', with args beginning with: ",
            b"ZADD",
            b"OOM command not allowed when used memory > 'maxmemory'.",
        ]
    )
    assert probe.refused == ["HSET", "ZREM"]
    assert probe.missing == ["LMPOP"]
    assert not probe.read_only
    assert not probe.native_copy
    assert read_probe([]).native_copy


@pytest.mark.parametrize(
    "spellings",
    [
        ({"host": "127.0.0.1"}, {"host": "localhost"}),
        ({"host": "127.0.0.1"}, "url"),
    ],
    ids=["localhost", "url"],
)
def test_a_server_listed_twice_is_refused_naming_both_entries(
    spellings: tuple[Any, Any], redis_server_factory: Callable[..., RedisServer]
) -> None:
    server = redis_server_factory(password="s3cret-pw")
    nodes = [
        f"redis://:{server.password}@localhost:{server.port}/0"
        if entry == "url"
        else server.node(**entry)
        for entry in spellings
    ]
    connector = sergeant.connect(sergeant.config.Connector(type="redis", params={"nodes": nodes}))
    try:
        with pytest.raises(ConfigError) as caught:
            connector.queue_stats("q")  # every node's first script call
        message = str(caught.value)
        assert "nodes[0]" in message
        assert "nodes[1]" in message
        assert "list each server once" in message
        assert "s3cret-pw" not in message
        with pytest.raises(ConfigError):
            connector.queue_reserve("q", 10, 10.0)  # every visit, not only the first
    finally:
        connector.close()


def test_one_server_may_serve_two_databases(redis_server: RedisServer) -> None:
    nodes = [redis_server.node(), redis_server.node(host="localhost", database=1)]
    two = sergeant.connect(sergeant.config.Connector(type="redis", params={"nodes": nodes}))
    try:
        assert len(two.queue_stats("q")) == 2
    finally:
        two.close()


def test_connectors_sharing_a_server_are_not_taken_for_one_listing_it_twice(
    redis_servers: list[RedisServer],
) -> None:
    """Each connector's nodes write its own mark: another connector's index on
    the same server (here nodes[1] of the first, nodes[0] of the second) is
    never read as a duplicate."""
    first = sergeant.connect(
        sergeant.config.Connector(
            type="redis", params={"nodes": [redis_servers[1].node(), redis_servers[0].node()]}
        )
    )
    second = sergeant.connect(
        sergeant.config.Connector(type="redis", params={"nodes": [redis_servers[0].node()]})
    )
    try:
        for _ in range(2):
            assert len(first.queue_stats("q")) == 2
            assert len(second.queue_stats("q")) == 1
    finally:
        first.close()
        second.close()
