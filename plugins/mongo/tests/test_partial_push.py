"""A bulk push cut short part-way says how many items are stored, and those are.

A push of more than one insert (``CHUNK`` items each; 100 here, as mongoeco
takes a minute to insert the real 10,000) whose second insert loses
its reply (the server stored it; the connection reset before the answer came)
raises ``PartialPushError``: ``stored`` counts the inserts confirmed, which are
the first items of the queue, in order; pushing ``items[stored:]`` again is then
at-least-once (the unconfirmed insert may be there twice), never a loss.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import sergeant_mongo.connector
from sergeant.errors import PartialPushError
from sergeant_mongo import MongoConnector
from sergeant_test_support.mongo_fixtures import MongoServer
from sergeant_test_support.proxy import ResettingProxy

ITEM_BYTES = 1000  # large against the ~70 bytes of BSON around each item
CHUNK = 100


@pytest.fixture
def proxied(
    mongo_server_factory: Callable[..., MongoServer],
) -> Iterator[tuple[MongoServer, ResettingProxy]]:
    server = mongo_server_factory()
    if server.uri is not None:
        pytest.skip("the proxy needs a standalone server started here (not a uri's replica set)")
    made = ResettingProxy(server.port)
    yield server, made
    made.close()


def test_a_push_cut_short_after_its_first_insert_reports_what_is_stored(
    proxied: tuple[MongoServer, ResettingProxy],
    make_connector: Callable[..., MongoConnector],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sergeant_mongo.connector, "CHUNK", CHUNK)
    server, resetting = proxied
    through = make_connector(MongoServer(host=server.host, port=resetting.port), connect_timeout=5)
    direct = make_connector(server, database=through.params.database)
    items = [b"%09d" % n + b"x" * (ITEM_BYTES - 9) for n in range(2 * CHUNK + 1)]
    through.queue_push("warm", b"0")  # the connection is up: the loss lands on an insert
    # more than one insert's bytes, less than two: the second insert's reply is lost
    resetting.lose_next_reply(after_request_bytes=CHUNK * ITEM_BYTES * 3 // 2)
    with pytest.raises(PartialPushError) as caught:
        through.queue_push_bulk("q", items)
    assert resetting.lost.is_set()
    assert (caught.value.stored, caught.value.total) == (CHUNK, len(items))
    stored = direct.queue_pop_bulk("q", len(items))
    assert stored[: caught.value.stored] == items[: caught.value.stored]
    # the unconfirmed insert ran (its reply was what got lost); the last one never went
    assert stored == items[: 2 * CHUNK]
