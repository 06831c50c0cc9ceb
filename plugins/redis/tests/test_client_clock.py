"""A delay is what its date means on the pusher's own clock.

``consumable_from`` is a date on the client's wall clock (a retry writes
``time.time() + delay``). A worker whose wall clock is an hour off shares the
queue with clients whose clocks are right; its wall clock is this process's
``time.time`` moved by an hour. Sent as a date and compared with the server's
time, its retries would wait an hour too long (ahead) or not at all (behind).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from sergeant.connector import Connector
from sergeant.testing import wait_until
from sergeant_test_support.redis_fixtures import RedisServer

HOUR = 3600.0
LEASE = 60.0


@pytest.mark.parametrize("offset", [HOUR, -HOUR], ids=["ahead", "behind"])
def test_a_client_with_a_wrong_wall_clock_delays_by_what_its_dates_mean(
    redis_server: RedisServer,
    connectors: Callable[..., Connector],
    monkeypatch: pytest.MonkeyPatch,
    offset: float,
) -> None:
    right, wrong = connectors([redis_server]), connectors([redis_server])
    queue = f"skewed-{uuid.uuid4().hex[:8]}"
    right.queue_push(queue, b"retried")
    [retried] = wrong.queue_reserve(queue, 1, LEASE)
    real = time.time
    with monkeypatch.context() as patch:
        patch.setattr(time, "time", lambda: real() + offset)
        wrong.queue_push(queue, b"soon", consumable_from=time.time() + 1)
        wrong.queue_push(queue, b"later", consumable_from=time.time() + 600)
        assert wrong.queue_release(queue, [retried.receipt], time.time() + 600) == 1
    assert right.queue_length(queue, include_delayed=True) == 3
    assert right.queue_pop(queue) is None
    got = wait_until(lambda: right.queue_pop(queue), timeout=30, message="the 1 s delay")
    assert got == b"soon"
    assert right.queue_length(queue, include_delayed=False) == 0
    assert right.queue_length(queue, include_delayed=True) == 2
