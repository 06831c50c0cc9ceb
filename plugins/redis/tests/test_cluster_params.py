"""The ``cluster`` param: checked before any connection (through ``sergeant.config``,
without the driver), each bad field named as ``cluster.…``, credentials never shown."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import sergeant
from sergeant.errors import ConfigError
from sergeant_redis.cluster import shard_tags
from sergeant_redis.cluster_params import parse_cluster

NODE = {"host": "10.0.0.1", "port": 7000}


def config(cluster: Any, **others: Any) -> None:
    sergeant.config.Connector(type="redis", params={"cluster": cluster, **others})


def test_the_issue_example_is_valid_config() -> None:
    cluster = {"nodes": [NODE, {"host": "10.0.0.2", "port": 7000}], "password": None}
    config(cluster)
    parsed = parse_cluster({"cluster": cluster})
    assert [node.address for node in parsed.nodes] == ["10.0.0.1:7000", "10.0.0.2:7000"]
    assert parsed.shards is None
    assert (parsed.min_replicas, parsed.min_replicas_timeout) == (0, 1.0)


def test_min_replicas_is_accepted_and_a_bad_one_names_value_and_fix() -> None:
    parsed = parse_cluster(
        {"cluster": {"nodes": [NODE], "min_replicas": 2, "min_replicas_timeout": 0.5}}
    )
    assert (parsed.min_replicas, parsed.min_replicas_timeout) == (2, 0.5)
    with pytest.raises(ConfigError) as caught:
        config({"nodes": [NODE], "min_replicas": -3})
    assert caught.value.field == "cluster.min_replicas"
    assert "-3" in str(caught.value)
    assert caught.value.fix


@pytest.mark.parametrize(
    ("cluster", "field"),
    [
        ({"nodes": [{"host": "h", "port": "7000"}]}, "cluster.nodes[0].port"),
        ({"nodes": [NODE, {"host": "h", "port": 70000}]}, "cluster.nodes[1].port"),
        ({"nodes": [NODE, {"host": "", "port": 1}]}, "cluster.nodes[1].host"),
        ({"nodes": [NODE, "10.0.0.2:7000"]}, "cluster.nodes[1]"),
        ({"nodes": [{"host": "h", "port": 1, "pasword": "x"}]}, "cluster.nodes[0]['pasword']"),
        ({"nodes": []}, "cluster.nodes"),
        ({"nodes": "10.0.0.1:7000"}, "cluster.nodes"),
        ({}, "cluster['nodes']"),
        ({"nodes": [NODE], "shards": 0}, "cluster.shards"),
        ({"nodes": [NODE], "shards": True}, "cluster.shards"),
        ({"nodes": [NODE], "shards": 2.5}, "cluster.shards"),
        ({"nodes": [NODE], "ssl": "yes"}, "cluster.ssl"),
        ({"nodes": [NODE], "min_replicas": -1}, "cluster.min_replicas"),
        ({"nodes": [NODE], "min_replicas": "1"}, "cluster.min_replicas"),
        ({"nodes": [NODE], "min_replicas_timeout": 0}, "cluster.min_replicas_timeout"),
        ({"nodes": [NODE], "ssl_cert_reqs": "maybe"}, "cluster.ssl_cert_reqs"),
        ({"nodes": [NODE], "socket_timeout": 0}, "cluster.socket_timeout"),
        ({"nodes": [NODE], "database": 1}, "cluster['database']"),
        ({"nodes": [NODE, dict(NODE)]}, "cluster.nodes[1]"),
        ("10.0.0.1:7000", "cluster"),
    ],
)
def test_a_bad_field_is_named(cluster: Any, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config(cluster)
    assert caught.value.field == field, str(caught.value)


def test_nodes_next_to_cluster_is_refused() -> None:
    with pytest.raises(ConfigError, match="takes only 'cluster'"):
        config({"nodes": [NODE]}, nodes=[NODE])


@pytest.mark.parametrize("field", ["password", "ssl_password"])
def test_credentials_are_never_shown(field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config({"nodes": [NODE], field: 12345678})
    assert caught.value.field == f"cluster.{field}"
    assert "12345678" not in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        config({"nodes": [NODE], field: "s3cret-value", "shards": -1})
    assert "s3cret-value" not in str(caught.value)
    assert "s3cret-value" not in repr(
        parse_cluster({"cluster": {"nodes": [NODE], field: "s3cret-value"}})
    )


def test_checking_cluster_params_imports_no_driver() -> None:
    code = (
        "import sys, sergeant_redis.params as p\n"
        "p.check_params({'cluster': {'nodes': [{'host': 'h', 'port': 1}]}})\n"
        "assert 'redis' not in sys.modules, 'redis imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("shards", [1, 2, 3, 5, 16, 128])
def test_shard_tags_are_distinct_and_each_in_its_own_slot_range(shards: int) -> None:
    import redis.crc

    for name in ("q", "emails", "ünïcode", "a#1"):
        tags = shard_tags(name, shards)
        assert len(set(tags)) == shards
        for k, tag in enumerate(tags):
            slot = redis.crc.key_slot(f"sergeant:queue:{{{tag}}}:high".encode())
            assert k * 16384 / shards < slot < (k + 1) * 16384 / shards - 1
        assert shard_tags(name, shards) == tags  # the same for every client


def test_a_name_with_a_closing_brace_still_gets_distinct_shards() -> None:
    tags = shard_tags("a}b", 3)
    assert len(set(tags)) == 3
