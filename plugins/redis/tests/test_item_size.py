"""An item over what redis-server takes by default (``proto-max-bulk-len``, 512 MiB)
is refused by name before it is sent: sent, it made the server drop the
connection mid-push, which read as the node being down."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from sergeant.connector import Connector
from sergeant.errors import ConnectorUnavailableError, ItemTooLargeError, StorageError
from sergeant_redis.connector import MAX_ITEM_BYTES
from sergeant_test_support.redis_fixtures import RedisServer


def test_an_item_over_512_mib_is_refused_by_name_and_the_node_stays_up(
    redis_server: RedisServer, connectors: Callable[..., Connector]
) -> None:
    connector = connectors([redis_server])
    queue = f"size-{uuid.uuid4().hex[:8]}"
    big = bytes(MAX_ITEM_BYTES + 1)
    with pytest.raises(ItemTooLargeError) as caught:
        connector.queue_push_bulk(queue, [b"small", big])
    assert caught.value.field == "items[1]"
    assert f"{MAX_ITEM_BYTES + 1:,} bytes" in str(caught.value)
    with pytest.raises(ItemTooLargeError, match="invalid value"):
        connector.key_set(queue, big)
    del big
    assert connector.queue_length(queue) == 0  # nothing of the bulk push was stored
    assert not any(node.health.is_down() for node in connector.nodes)  # type: ignore[attr-defined]
    connector.queue_push(queue, b"after")
    assert connector.queue_pop(queue) == b"after"


def test_a_value_over_a_lower_proto_max_bulk_len_names_the_setting_on_every_node(
    redis_server_factory: Callable[..., RedisServer], connectors: Callable[..., Connector]
) -> None:
    servers = [redis_server_factory(extra_config=("proto-max-bulk-len 1mb",)) for _ in range(2)]
    connector = connectors(servers)
    big = bytes(2 * 2**20)
    calls: list[Callable[[], object]] = [
        lambda: connector.queue_push("q", big),
        lambda: connector.queue_push("q", big, consumable_from=0),
        lambda: connector.key_set("k", big),
    ]
    for call in calls:
        with pytest.raises(StorageError) as caught:
            call()
        assert not isinstance(caught.value, ConnectorUnavailableError)
        assert "proto-max-bulk-len" in str(caught.value)
    assert not any(node.health.is_down() for node in connector.nodes)  # type: ignore[attr-defined]
    connector.queue_push("q", b"after")
    assert connector.queue_pop("q") == b"after"
