"""A connection reset after the server ran a call but before its reply arrived.

A load balancer or NAT dropping the connection, or a server crashing right
after a write, look like this. The node used to send the call again on a fresh
socket: a pop then took a second item (the first one gone without a word), a
push stored twice, a ``SET NX`` reported its own write as someone else's. Now
the call fails with ``ConnectorUnavailableError`` saying it may have run, and
is not sent again (a push still goes to the next node that answers, as the
README says: under lost replies a push is at-least-once); a connection its
server closed while idle (a restart) is still replaced before a call goes out
on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sergeant.connector import Connector
from sergeant.errors import ConnectorUnavailableError
from sergeant_test_support.proxy import ResettingProxy
from sergeant_test_support.redis_fixtures import RedisServer


@pytest.fixture
def proxy(
    redis_server_factory: Callable[..., RedisServer],
) -> Iterator[tuple[RedisServer, ResettingProxy]]:
    server = redis_server_factory()
    made = ResettingProxy(server.port)
    yield server, made
    made.close()


def test_a_pop_whose_reply_is_lost_fails_and_takes_one_item(
    proxy: tuple[RedisServer, ResettingProxy], connectors: Callable[..., Connector]
) -> None:
    server, resetting = proxy
    direct = connectors([server])
    through = connectors([server], port=resetting.port)
    direct.queue_push_bulk("q", [b"0", b"1", b"2", b"3"])
    assert through.queue_pop("q") == b"0"  # the connection is up, the script loaded
    resetting.lose_next_reply()
    with pytest.raises(ConnectorUnavailableError, match="after the call was sent"):
        through.queue_pop("q")
    assert resetting.lost.is_set()
    assert direct.queue_peek("q", 10) == [b"2", b"3"]
    assert through.queue_pop("q") == b"2"  # a new connection, as usual


def test_a_key_set_whose_reply_is_lost_is_not_sent_again(
    proxy: tuple[RedisServer, ResettingProxy], connectors: Callable[..., Connector]
) -> None:
    """Sent again, ``SET .. GET`` met its own value and said the key existed."""
    server, resetting = proxy
    direct = connectors([server])
    through = connectors([server], port=resetting.port)
    assert through.key_get("k") is None
    resetting.lose_next_reply()
    with pytest.raises(ConnectorUnavailableError, match="after the call was sent"):
        through.key_set("k", b"mine")
    assert direct.key_get("k") == b"mine"
    assert through.key_set("k2", b"new") is True


def test_a_connection_its_server_closed_while_idle_is_replaced_before_use(
    redis_server_factory: Callable[..., RedisServer], connectors: Callable[..., Connector]
) -> None:
    server = redis_server_factory()
    connector = connectors([server])
    connector.queue_push("q", b"before")
    server.restart()  # same port, a fresh server: the connector's socket is dead
    assert connector.queue_push("q", b"after") is True
    assert connector.queue_pop("q") == b"after"
