"""``params={'sentinel': {...}}`` and ``min_replicas``: what is accepted, and
errors that name the field, the bad value and the fix, never a password."""

from __future__ import annotations

from typing import Any

import pytest
import sergeant
from sergeant.errors import ConfigError
from sergeant_redis.params import NodeParams, SentinelNodeParams, parse_nodes

SECRET = "pw-never-shown-3141"
SENTINELS = [{"host": "10.0.0.1", "port": 26379}, {"host": "10.0.0.2", "port": 26380}]


def test_a_sentinel_deployment_is_one_logical_node() -> None:
    (node,) = parse_nodes(
        {
            "sentinel": {
                "nodes": SENTINELS,
                "service_name": "jobs",
                "password": SECRET,
                "sentinel_password": SECRET + "s",
                "username": "app",
                "database": 3,
            },
            "min_replicas": 1,
            "min_replicas_timeout": 2.5,
        }
    )
    assert isinstance(node, SentinelNodeParams)
    assert node.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380))
    assert (node.service_name, node.database, node.username) == ("jobs", 3, "app")
    assert (node.password, node.sentinel_password) == (SECRET, SECRET + "s")
    assert (node.min_replicas, node.min_replicas_timeout) == (1, 2.5)
    assert node.address == "jobs via sentinel 10.0.0.1:26379,10.0.0.2:26380"
    assert SECRET not in repr(node)


def test_sentinel_defaults_to_service_sergeant_port_26379() -> None:
    (node,) = parse_nodes({"sentinel": {"nodes": [{"host": "s1"}]}})
    assert isinstance(node, SentinelNodeParams)
    assert node.sentinels == (("s1", 26379),)
    assert node.service_name == "sergeant"
    assert node.min_replicas == 0


def test_min_replicas_applies_to_every_node_and_an_entry_may_override_it() -> None:
    nodes = parse_nodes(
        {"nodes": [{"port": 7000}, {"port": 7001, "min_replicas": 0}], "min_replicas": 2}
    )
    assert [n.min_replicas for n in nodes] == [2, 0]
    assert all(type(n) is NodeParams for n in nodes)


@pytest.mark.parametrize(
    ("params", "field", "fix"),
    [
        ({"sentinel": {"nodes": []}}, "sentinel.nodes", "at least one sentinel"),
        ({"sentinel": {}}, "sentinel['nodes']", "required"),
        ({"sentinel": "s1:26379"}, "sentinel", "pass a mapping"),
        ({"sentinel": {"nodes": ["s1"]}}, "sentinel.nodes[0]", "mapping"),
        ({"sentinel": {"nodes": [{"port": 0}]}}, "sentinel.nodes[0].port", "1 to 65535"),
        ({"sentinel": {"nodes": [{"host": ""}]}}, "sentinel.nodes[0].host", "non-empty"),
        ({"sentinel": {"nodes": [{}, {}]}}, "sentinel.nodes[1]", "the same server"),
        (
            {"sentinel": {"nodes": [{"host": "s", "password": "x"}]}},
            "sentinel.nodes[0]['password']",
            "",
        ),
        ({"sentinel": {"nodes": [{}], "service_name": ""}}, "sentinel.service_name", ""),
        ({"sentinel": {"nodes": [{}], "sevice_name": "x"}}, "sentinel['sevice_name']", "did you"),
        ({"sentinel": {"nodes": [{}]}, "nodes": [{}]}, "nodes", "not both"),
        ({"min_replicas": -1}, "min_replicas", "0 to 1000"),
        ({"min_replicas": True}, "min_replicas", ""),
        ({"min_replicas_timeout": 0}, "min_replicas_timeout", ""),
        ({"nodes": [{"min_replicas": "1"}]}, "nodes[0].min_replicas", ""),
    ],
)
def test_bad_sentinel_params_name_the_field_and_the_fix(
    params: dict[str, Any], field: str, fix: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_nodes(params)
    assert caught.value.field == field
    assert fix in caught.value.fix


@pytest.mark.parametrize(
    "sentinel",
    [
        {"nodes": [{}], "password": 12345},
        {"nodes": [{}], "sentinel_password": ["x"]},
        {"nodes": [{"host": "s1", "password": SECRET}]},
        {"nodes": [{}], "ssl_password": 7},
    ],
)
def test_errors_never_show_a_password(sentinel: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_nodes({"sentinel": sentinel})
    text = str(caught.value)
    assert SECRET not in text
    assert "12345" not in text
    assert "'x'" not in text
    assert caught.value.field.startswith("sentinel.")


def test_the_config_object_checks_sentinel_params_without_a_server() -> None:
    with pytest.raises(ConfigError, match=r"sentinel\.nodes\[0\]\.port"):
        sergeant.config.Connector(type="redis", params={"sentinel": {"nodes": [{"port": "x"}]}})
    config = sergeant.config.Connector(
        type="redis", params={"sentinel": {"nodes": SENTINELS, "password": SECRET}}
    )
    assert SECRET not in repr(config)


def test_tls_and_credentials_reach_the_driver_for_sentinels_and_data_nodes() -> None:
    """What redis-py is handed (no server): the sentinels' clients get the
    sentinel credentials and TLS, the primary's connections the data ones."""
    import redis.connection
    from sergeant_redis.node import Node
    from sergeant_redis.sentinel import PrimarySSLConnection

    (params,) = parse_nodes(
        {
            "sentinel": {
                "nodes": SENTINELS,
                "password": SECRET,
                "username": "app",
                "sentinel_password": SECRET + "s",
                "sentinel_username": "watcher",
                "ssl": True,
                "ssl_ca_certs": "/etc/ca.pem",
                "ssl_check_hostname": False,
            }
        }
    )
    node = Node(0, params)
    try:
        primary = node.pool.connection_kwargs
        assert node.pool.connection_class is PrimarySSLConnection
        assert (primary["username"], primary["password"]) == ("app", SECRET)
        assert primary["ssl_ca_certs"] == "/etc/ca.pem"
        assert primary["ssl_check_hostname"] is False
        assert node.label == f"{params.address} (sentinel)"
        assert SECRET not in repr(node)
        for client in node._sentinel.sentinels:  # type: ignore[union-attr]
            pool = client.connection_pool
            assert issubclass(pool.connection_class, redis.connection.SSLConnection)
            kwargs = pool.connection_kwargs
            assert (kwargs["username"], kwargs["password"]) == ("watcher", SECRET + "s")
            assert kwargs["ssl_ca_certs"] == "/etc/ca.pem"
    finally:
        node.close()
