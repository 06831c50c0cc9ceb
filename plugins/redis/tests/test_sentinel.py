"""The redis connector on a real Sentinel deployment (1 primary, 2 replicas,
3 sentinels): the conformance kit passes through the sentinels, with and
without ``min_replicas``; the data lands on the primary and reaches the
replicas; credentials of the data nodes and of the sentinels are used and
never shown."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
import redis
import sergeant
from sergeant.connector import Connector
from sergeant.errors import AuthenticationError, ConnectorUnavailableError
from sergeant.testing import ConnectorConformance
from sergeant_test_support.sentinel_fixtures import SentinelDeployment


def connect(params: dict[str, Any]) -> Connector:
    return sergeant.connect(sergeant.config.Connector(type="redis", params=params))


class TestSentinel(ConnectorConformance):
    lease_seconds: ClassVar[float] = 0.5

    @pytest.fixture
    def connector_factory(self, sentinel_deployment: SentinelDeployment) -> Callable[[], Connector]:
        return lambda: connect(sentinel_deployment.params())


class TestSentinelMinReplicas(ConnectorConformance):
    lease_seconds: ClassVar[float] = 0.5

    @pytest.fixture
    def connector_factory(self, sentinel_deployment: SentinelDeployment) -> Callable[[], Connector]:
        return lambda: connect(sentinel_deployment.params(min_replicas=2, min_replicas_timeout=10))


@pytest.fixture
def sentinel_connector(sentinel_deployment: SentinelDeployment) -> Iterator[Connector]:
    connector = connect(sentinel_deployment.params(min_replicas=2, min_replicas_timeout=10))
    yield connector
    connector.close()


def test_writes_go_to_the_primary_and_with_min_replicas_are_on_both_replicas(
    sentinel_deployment: SentinelDeployment, sentinel_connector: Connector
) -> None:
    key = f"sentinel-{uuid.uuid4().hex}"
    assert sentinel_connector.key_set(key, b"value")
    primary = sentinel_deployment.primary()
    stored = {
        server.port: redis.Redis(server.host, server.port).get(f"sergeant:key:{key}")
        for server in sentinel_deployment.servers
    }
    # WAIT 2 returned: both replicas have it already, not eventually.
    assert stored == {server.port: b"value" for server in sentinel_deployment.servers}
    assert redis.Redis(primary.host, primary.port).role()[0] == b"master"


def test_stats_and_errors_name_the_service_and_sentinels(
    sentinel_deployment: SentinelDeployment, sentinel_connector: Connector
) -> None:
    queue = f"q-{uuid.uuid4().hex}"
    sentinel_connector.queue_push(queue, b"x")
    (stats,) = sentinel_connector.queue_stats(queue)
    first = sentinel_deployment.sentinels[0]
    assert stats.node.startswith("sergeant via sentinel ")
    assert f"{first.host}:{first.port}" in stats.node
    assert stats.ready == 1


def test_an_unknown_service_is_unavailable_naming_it(
    sentinel_deployment: SentinelDeployment,
) -> None:
    params = sentinel_deployment.params()
    params["sentinel"]["service_name"] = "nosuchservice"
    connector = connect(params)
    try:
        with pytest.raises(ConnectorUnavailableError, match="nosuchservice"):
            connector.queue_push("q", b"x")
    finally:
        connector.close()


PASSWORD = "data-pw-7b1f0c"
SENTINEL_PASSWORD = "sentinel-pw-92ad4e"


def test_credentials_reach_data_nodes_and_sentinels_and_are_never_shown(
    sentinel_factory: Callable[..., SentinelDeployment],
) -> None:
    deployment = sentinel_factory(
        password=PASSWORD, sentinel_password=SENTINEL_PASSWORD, down_after_ms=30000
    )
    good = connect(deployment.params(min_replicas=1, min_replicas_timeout=10))
    try:
        good.queue_push("q", b"x")
        assert good.queue_pop("q") == b"x"
        assert PASSWORD not in repr(good)
        assert SENTINEL_PASSWORD not in repr(good)
    finally:
        good.close()

    wrong_data = deployment.params()
    wrong_data["sentinel"]["password"] = "wrong-" + PASSWORD
    wrong_sentinel = deployment.params()
    wrong_sentinel["sentinel"]["sentinel_password"] = "wrong-" + SENTINEL_PASSWORD
    for params, expected in (
        (wrong_data, AuthenticationError),
        (wrong_sentinel, ConnectorUnavailableError),
    ):
        connector = connect(params)
        try:
            with pytest.raises(expected) as caught:
                connector.queue_push("q", b"x")
        finally:
            connector.close()
        text = f"{caught.value} {caught.value.__cause__} {caught.value!r}"
        assert PASSWORD not in text
        assert SENTINEL_PASSWORD not in text
        assert "sentinel" in str(caught.value)
