"""Migrating Sergeant 0.27.0's lists leaves those whose names no worker could use.

Sergeant kept a queue as a plain list named after it; a name that is not valid
text here (bytes that are not UTF-8) would, once moved, strand its tasks under
a name our API refuses. Such lists stay where they are, and the report says so.
"""

from __future__ import annotations

import msgpack
import redis
from redis_helpers import connect
from sergeant.legacy import MIGRATE_LEGACY
from sergeant_test_support.redis_fixtures import RedisServer

#: A payload Sergeant 0.27.0's msgpack encoder would have written.
TASK = msgpack.packb({"__task__": {"kwargs": {"n": 1}, "date": 0, "run_count": 0}})


def test_a_list_with_an_unusable_name_is_left_with_a_note(redis_server: RedisServer) -> None:
    raw = redis.Redis(host=redis_server.host, port=redis_server.port)
    raw.rpush("emails", TASK, TASK)
    raw.rpush(b"bad-\xff\xfe-name", TASK)
    connector = connect([redis_server])
    try:
        assert MIGRATE_LEGACY in connector.capabilities
        report = connector.migrate_legacy()
        assert [(q.name, q.total) for q in report.queues] == [("emails", 2)]
        assert any("1 queues were left in the old layout" in note for note in report.notes)
        assert raw.llen(b"bad-\xff\xfe-name") == 1  # untouched, for Sergeant to drain
        assert connector.queue_length("emails") == 2
    finally:
        connector.close()
        raw.flushall()
        raw.close()
