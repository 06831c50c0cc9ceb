"""Construction: params as Sergeant's docs show them, and bad entries named precisely."""

from __future__ import annotations

from typing import Any

import pytest
import sergeant
from sergeant.errors import ConfigError
from sergeant_redis import RedisConnector
from sergeant_redis.params import parse_nodes


def build(*nodes: Any) -> RedisConnector:
    return RedisConnector(nodes=list(nodes))


def test_sergeant_docs_examples_construct() -> None:
    for ports in ([6379], [6379, 6380]):
        params = {
            "nodes": [
                {"host": "localhost", "port": port, "password": None, "database": 0}
                for port in ports
            ]
        }
        connector = sergeant.connect(sergeant.config.Connector(type="redis", params=params))
        assert isinstance(connector, RedisConnector)
        assert len(connector.nodes) == len(ports)
        connector.close()


@pytest.mark.parametrize(
    ("nodes", "field"),
    [
        ([{"host": "h", "port": "6379"}], "nodes[0].port"),
        ([{"host": "h", "port": 6379}, {"host": "h", "port": 70000}], "nodes[1].port"),
        ([{"host": "h"}, {"host": 5}], "nodes[1].host"),
        ([{"host": "", "port": 6379}], "nodes[0].host"),
        ([{"host": "h", "port": 6379}, {"host": "h:6380"}], "nodes[1].host"),
        ([{"host": "redis host"}], "nodes[0].host"),
        ([{"host": "[h]"}], "nodes[0].host"),
        ([{"host": "::1"}, {"host": "[::1]"}], "nodes[1]"),
        ([{"host": "h", "database": -1}], "nodes[0].database"),
        ([{"host": "h", "ssl": "yes"}], "nodes[0].ssl"),
        ([{"host": "h", "ssl_cert_reqs": "sometimes"}], "nodes[0].ssl_cert_reqs"),
        ([{"host": "h", "socket_timeout": 0}], "nodes[0].socket_timeout"),
        ([{"host": "h"}, {"hots": "h"}], "nodes[1]['hots']"),
        ([{"host": "h"}, 42], "nodes[1]"),
        ([{"url": "http://h:1/0"}], "nodes[0].url"),
        ([{"url": "redis://h:1/zero"}], "nodes[0].url"),
        (["redis://localhost/\u00b2"], "nodes[0].url"),
        ([{"url": "redis://h:notaport/0"}], "nodes[0].url"),
        ([{"url": "redis://h/0?ssl=true"}], "nodes[0].url"),
        ([{"url": "redis://h:1/0", "port": 2}], "nodes[0].port"),
        ([{"host": "h", "port": 1}, {"host": "h", "port": 1}], "nodes[1]"),
        ([{"host": "/tmp/redis.sock", "ssl": True}], "nodes[0].ssl"),
        ([], "nodes"),
    ],
)
def test_bad_node_names_index_and_field(nodes: list[Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build(*nodes)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"invalid {field}:")


def test_no_params_mean_a_local_redis_server_and_unknown_ones_are_named() -> None:
    (node,) = RedisConnector().node_params
    assert (node.host, node.port, node.database) == ("localhost", 6379, 0)
    with pytest.raises(ConfigError, match="did you mean 'nodes'"):
        RedisConnector(nodes=[{"host": "h"}], node=[])


def test_password_never_shown_in_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        build({"host": "h", "password": 12345})
    assert "12345" not in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        build({"url": "redis://user:hunter2@h:1/zero"})
    assert "hunter2" not in str(caught.value)
    assert "user" not in str(caught.value)  # the whole userinfo is redacted
    assert "redis://***@h:1/zero" in str(caught.value)


def test_url_forms() -> None:
    plain, tls, bare = parse_nodes(
        {
            "nodes": [
                "redis://:p%40ss@example.org:6390/3",
                {"url": "rediss://alice:pw@secure.example.org", "ssl_ca_certs": "/ca.pem"},
                {"url": "redis://localhost"},
            ]
        }
    )
    assert (plain.host, plain.port, plain.database, plain.password) == (
        "example.org",
        6390,
        3,
        "p@ss",
    )
    assert plain.ssl is False
    assert (tls.host, tls.port, tls.username, tls.password, tls.ssl) == (
        "secure.example.org",
        6379,
        "alice",
        "pw",
        True,
    )
    assert tls.ssl_ca_certs == "/ca.pem"
    assert (bare.host, bare.port, bare.database, bare.password) == ("localhost", 6379, 0, None)


def test_repr_hides_passwords() -> None:
    connector = build(
        {"host": "h", "port": 1, "password": "topsecret", "ssl_password": "keypass"},
        {"url": "redis://:urlsecret@h:2/0"},
    )
    shown = repr(connector) + repr(connector.node_params) + repr(connector.nodes)
    for secret in ("topsecret", "keypass", "urlsecret"):
        assert secret not in shown
    assert "h:1/0" in repr(connector)
    assert "h:2/0" in repr(connector)
    config = sergeant.config.Connector(
        type="redis", params={"nodes": [{"url": "redis://:urlsecret@h:2/0"}]}
    )
    assert "urlsecret" not in repr(config)


def test_an_ipv6_host_is_taken_with_or_without_brackets() -> None:
    connector = build({"host": "[::1]", "port": 1}, {"host": "::1", "port": 2}, "redis://[::1]:3/0")
    try:
        assert [node.params.host for node in connector.nodes] == ["::1"] * 3
        assert "[::1]:1/0" in repr(connector)
    finally:
        connector.close()


def test_a_unix_socket_is_a_host_path_and_a_unix_url_says_so() -> None:
    (node,) = build({"host": "/run/redis/redis.sock", "port": 1234}).node_params
    assert node.address == node.identity.rsplit("/", 1)[0] == "/run/redis/redis.sock"
    with pytest.raises(ConfigError, match=r"'host': '/path/to/redis.sock'") as caught:
        build("unix://:s3cret@/run/redis/redis.sock?db=0")
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis://h:99999/0", "'redis://h:99999/0'; its port 99999 is not from 1 to 65535"),
        ("redis://:s3cret@h:0/0", "'redis://***@h:0/0'; its port 0 is not from 1 to 65535"),
        ("redis://:s3cret@[::1]:abc/0", "its port 'abc' is not a number from 1 to 65535"),
        ("redis://user:s3cret", "<redacted>; its port is not a number from 1 to 65535"),
        # a password holding '/' ends the netloc inside it: its tail is no port
        ("redis://:Ab:s3cret/x@127.0.0.1:1/0", "'redis://***@127.0.0.1:1/0'; its port is not"),
        ("redis://:Ab:s3cret/x@h/0", "(not shown: it may be part of a password"),
        ("redis://:s3cret:99999/0", "<redacted>; its port is not a number"),
    ],
)
def test_a_bad_port_in_a_url_is_named_with_the_range(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build({"url": url})
    assert caught.value.field == "nodes[0].url"
    assert says in str(caught.value)
    assert "s3cret" not in str(caught.value)
