"""Servers that answer but cannot serve as a node: a read-only replica, a
database index the server does not have, a server that lacks a command or is
full when the ACL probe runs. Each gets an error that says what is wrong and
the fix, not an ACL diagnosis or a bare server reply."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sergeant.connector import Connector
from sergeant.errors import StorageError
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
