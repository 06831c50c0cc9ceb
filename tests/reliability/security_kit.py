"""What the security scenario runs through a connector, and the ACL it needs.

:func:`kit_walk` calls every operation of the connector contract once or more
(pushes plain, bulk and delayed; pops small and big; reserve, extend, release,
ack; stats; keys; locks) and checks each answer, so a user whose ACL misses a
command fails here. :data:`MINIMAL_COMMANDS` is the smallest command list
the redis connector works with, found by starting from ``-@all`` and adding
what ``ACL LOG`` said was refused (redis-server 7.0). On Redis 7.2 and later
redis-py also sends ``CLIENT SETINFO``; it ignores the refusal, but adding
``+client|setinfo`` there keeps ``ACL LOG`` quiet (7.0 does not know it).
"""

from __future__ import annotations

import time
import uuid

from sergeant.connector import Connector, Delivery
from sergeant.testing import wait_until

__all__ = ["MINIMAL_COMMANDS", "acl_user_line", "kit_walk"]

#: Commands the redis connector sends, and those its Lua scripts call.
MINIMAL_COMMANDS = (
    # connection set-up (client_name) and redis-py's health check of idle connections
    "client|setname",
    "ping",
    # sent by the connector: plain pushes, big pops, scripts, keys and locks
    "rpush",
    "lmpop",
    "evalsha",
    "script|load",
    "set",
    "get",
    "del",
    "exists",
    "pttl",
    # called inside the scripts
    "time",
    "incr",
    "incrby",
    "expire",
    "llen",
    "lrange",
    "lpop",
    "sadd",
    "scard",
    "smembers",
    "hset",
    "hget",
    "hmget",
    "hgetall",
    "hexists",
    "hlen",
    "hdel",
    "zadd",
    "zcard",
    "zcount",
    "zscore",
    "zrange",
    "zrangebyscore",
    "zrem",
)


def acl_user_line(user: str, password: str, keys: str, commands: str) -> str:
    """A ``redis.conf`` ``user`` line: on, one password, one key pattern, no channels."""
    return f"user {user} on >{password} resetkeys ~{keys} resetchannels {commands}"


def _reserve_all(connector: Connector, queue: str, count: int) -> list[Delivery]:
    got: list[Delivery] = []

    def more() -> bool:
        got.extend(connector.queue_reserve(queue, count - len(got), 30))
        return len(got) >= count

    wait_until(more, timeout=10, message=f"{count} items of {queue} to be due")
    return got


def kit_walk(connector: Connector) -> int:
    """Every contract operation, answers checked; returns how many calls it made."""
    queue = f"kit-{uuid.uuid4().hex[:8]}"
    calls = 0

    def call(done: object) -> None:
        nonlocal calls
        calls += 1
        assert done, "the operation answered wrongly"

    bulk = [b"bulk-%02d" % i for i in range(40)]
    call(connector.queue_push(queue, b"one"))
    call(connector.queue_push_bulk(queue, bulk))
    call(connector.queue_pop(queue) == b"one")
    call(connector.queue_pop_bulk(queue, 3) == bulk[:3])
    call(connector.queue_pop_bulk(queue, 40) == bulk[3:])  # the big-pop path (LMPOP)
    due = time.time() + 0.05
    call(connector.queue_push(queue, b"later", priority="HIGH", consumable_from=due))
    call(connector.queue_push_bulk(queue, [b"later-2", b"later-3"], consumable_from=due))
    call(connector.queue_length(queue, include_delayed=True) == 3)
    first = _reserve_all(connector, queue, 3)
    calls += 1
    call(connector.queue_extend(queue, [first[0].receipt], 30) == 1)
    call(connector.queue_release(queue, [first[1].receipt]) == 1)
    if "peek" in connector.capabilities:
        call(connector.queue_peek(queue, 5) == [first[1].item])
    call(connector.queue_ack(queue, [first[0].receipt, first[2].receipt]) == 2)
    acked, again = connector.queue_ack_and_reserve(queue, [], 5, 30)
    call(acked == 0 and [d.deliveries for d in again] == [2])
    call(sum(s.in_flight for s in connector.queue_stats(queue)) == 1)
    call(connector.queue_ack(queue, [again[0].receipt]) == 1)
    call(connector.queue_push(queue, b"left"))
    call(connector.queue_delete(queue))
    call(connector.queue_length(queue, include_delayed=True) == 0)
    key = f"key-{queue}"
    call(connector.key_set(key, b"v1"))
    call(connector.key_set(key, b"v2") is False)
    call(connector.key_get(key) == b"v2")  # key_set overwrites, as Sergeant's does
    call(connector.key_delete(key))
    lock = connector.lock(f"lock-{queue}")
    call(lock.acquire(timeout=1, check_interval=0.05, ttl=5))
    call(lock.is_locked())
    call(0 < (lock.get_ttl() or 0) <= 5)
    call(lock.set_ttl(10))
    call(lock.release())
    return calls
