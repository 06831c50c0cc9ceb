"""A Redis Cluster whose only user for sergeant is the README's least-privilege
ACL user plus the cluster additions it lists: every call works; a wrong password
is sergeant's AuthenticationError, naming the fields, never the password."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sergeant
from sergeant.errors import AuthenticationError
from sergeant_test_support.cluster_fixtures import RedisCluster

README = Path(__file__).resolve().parents[1] / "README.md"
PASSWORD = "acl-pw-0123456789"


def readme_rules() -> str:
    """The ACL rules the README gives: the node user's block, plus the cluster's additions."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### A least-privilege ACL user", 1)[1]
    block = section.split("```", 2)[1]
    rules = " ".join(block.split()[4:])  # after "user sergeant-app on >PASSWORD"
    cluster = text.split("\n## Redis Cluster\n", 1)[1].split("\n## ", 1)[0]
    extra = re.search(r"plus ((?:`\+[a-z|]+`,? (?:and )?)+)", cluster)
    assert extra is not None, "the Redis Cluster section lists the ACL additions"
    return rules + " " + " ".join(re.findall(r"`(\+[a-z|]+)`", extra.group(1)))


@pytest.fixture
def cluster(redis_cluster_factory: Callable[..., RedisCluster]) -> RedisCluster:
    return redis_cluster_factory(
        extra_config=[f"user sergeant-app on >{PASSWORD} {readme_rules()}"]
    )


def test_the_readme_acl_user_runs_every_call(cluster: RedisCluster) -> None:
    params = cluster.params(username="sergeant-app", password=PASSWORD)
    with sergeant.connect(sergeant.config.Connector(type="redis", params=params)) as connector:
        assert PASSWORD not in repr(connector)
        assert PASSWORD not in repr(connector.cluster_params)  # type: ignore[attr-defined]
        for _ in range(6):
            connector.queue_push_bulk("acl", [b"a", b"b"])
        connector.queue_push("acl", b"later", consumable_from=time.time() + 600)
        batch = connector.queue_reserve("acl", 20, 30)
        assert len(batch) == 12
        assert connector.queue_extend("acl", batch.receipts()[:1], 60) == 1
        assert connector.queue_release("acl", batch.receipts()[1:2]) == 1
        assert connector.queue_ack("acl", batch.receipts()) == 11
        assert connector.queue_peek("acl", 5) == [b"b"]
        assert connector.queue_pop_bulk("acl", 100) == [b"b"]
        assert connector.queue_length("acl", include_delayed=True) == 1
        assert sum(s.delayed for s in connector.queue_stats("acl")) == 1
        assert connector.queue_names() == ["acl"]
        assert connector.queue_delete("acl") is True
        assert connector.key_set("k", b"v") is True
        assert connector.key_get("k") == b"v"
        lock = connector.lock("L")
        assert lock.acquire(timeout=5, check_interval=0.05, ttl=10)
        assert lock.release()


def test_a_wrong_password_is_an_authentication_error(cluster: RedisCluster) -> None:
    params = cluster.params(username="sergeant-app", password="wrong-secret-42")
    with pytest.raises(AuthenticationError) as caught:
        sergeant.connect(sergeant.config.Connector(type="redis", params=params))
    assert "cluster.password" in str(caught.value)
    assert "wrong-secret-42" not in str(caught.value)
