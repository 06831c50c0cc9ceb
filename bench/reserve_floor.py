"""What handing out 1,000 items costs redis-server: the floor under issue 12's last target.

Run by hand: ``.venv/bin/python bench/reserve_floor.py [--runs 3] [--load busy]
[--backlog short]``. Starts its own redis-server; 100-byte items; each case
takes ``--rounds`` batches of 1,000 off a queue filled beforehand (``--backlog
long``, the default: all the batches) or pushed one batch at a time, each right
before it is taken (``--backlog short``: workers that keep up; the push, one
``RPUSH`` of 1,000 alike for every case, is then counted in), the previous
batch acked in the same round trip where the case has acks, and reads the
server's CPU time (``INFO cpu``, user + system) around the batches only: server
µs per item, the measure of what one redis-server can serve to many workers.

Cases (the sides take turns within a run):

``lpop``
    ``LPOP <list> 1000``: Sergeant 0.27.0's worker call at 1,000 per
    transaction. No lease: an item popped by a worker that dies is lost.
``ours``
    :meth:`queue_ack_and_reserve` of sergeant-redis, the worker's call: a lease
    per call, the fresh items copied into the lease list natively (``COPY`` of
    a list of at most 2,000, else ``SORT .. STORE``) and read back by an
    ``LRANGE`` in the same round trip.
``sort_store``
    A script copies the items natively (``SORT <list> BY nosort LIMIT 0 1000
    STORE <lease list>`` + ``LTRIM``) and records the lease (``TIME``,
    ``ZADD``); the items are read back by a pipelined ``LRANGE``, so they never
    pass through Lua. Needs ``SORT``, an ACL ``@dangerous`` command.
``lua_copy``
    Our layout, the items read back natively: a script pops them (``LMPOP``)
    into the lease list (``RPUSH``) and records the lease, returning only a
    count; a pipelined ``LRANGE`` reads the lease list. The items pass into Lua
    once instead of in and out.
``segment``
    The queue kept as lists of 1,000 (segments) with an index list of their
    names: a script claims the head segment whole as the lease (``RENAME``,
    O(1)) and records it (``TIME``, ``ZADD``); ``LRANGE`` reads it back. A
    storage layout sergeant-redis does not have (pushes would write segments).
``segment_no_lease``
    ``RENAME`` + ``LRANGE`` with no script and no lease record: not
    at-least-once; the floor of any list-based design.
``range``
    Items never move: a lease is a range of positions in the queue list. A
    script settles the previous batch (drops its range from two zsets, by start
    and by expiry), trims the settled head off the list (``LTRIM``: whole list
    nodes freed at once), claims the next ``count`` positions and returns where
    they start; a second round trip reads them (``LRANGE``) with the head's
    position (``HGET``), which guards against a trim by another client between
    the two. A storage layout sergeant-redis does not have (every reader of the
    fresh list would have to skip the leased head).

With ``--backlog short`` the segment cases are left out (a segment is a push).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ITEM = b"x" * 100
BATCH = 1000
CASES = ("lpop", "ours", "sort_store", "lua_copy", "segment", "segment_no_lease", "range")
SHORT_CASES = ("lpop", "ours", "sort_store", "lua_copy", "range")

SORT_STORE = """
local n = redis.call('SORT', KEYS[1], 'BY', 'nosort', 'LIMIT', 0, ARGV[1], 'STORE', KEYS[2])
redis.call('LTRIM', KEYS[1], ARGV[1], -1)
local now = redis.call('TIME')
redis.call('ZADD', KEYS[3], now[1] + 60, KEYS[2])
return n
"""

LUA_COPY = """
local got = redis.call('LMPOP', 1, KEYS[1], 'LEFT', 'COUNT', ARGV[1])
if not got then return 0 end
redis.call('RPUSH', KEYS[2], unpack(got[2]))
local now = redis.call('TIME')
redis.call('ZADD', KEYS[3], now[1] + 60, KEYS[2])
return #got[2]
"""

CLAIM_SEGMENT = """
local segment = redis.call('LPOP', KEYS[1])
if not segment then return 0 end
redis.call('RENAME', segment, KEYS[2])
local now = redis.call('TIME')
redis.call('ZADD', KEYS[3], now[1] + 60, KEYS[2])
return 1
"""

CLAIM_RANGE = """
local base = tonumber(redis.call('HGET', KEYS[2], 'base') or '0')
local cursor = tonumber(redis.call('HGET', KEYS[2], 'cursor') or '0')
if ARGV[2] ~= '' then
  redis.call('ZREM', KEYS[3], ARGV[2])
  redis.call('ZREM', KEYS[4], ARGV[2])
end
local first = redis.call('ZRANGE', KEYS[3], 0, 0)
local head = first[1] and tonumber(first[1]) or cursor
if head > base then
  redis.call('LTRIM', KEYS[1], head - base, -1)
  base = head
end
local n = math.min(base + redis.call('LLEN', KEYS[1]) - cursor, tonumber(ARGV[1]))
redis.call('HSET', KEYS[2], 'base', base, 'cursor', cursor + math.max(n, 0))
if n <= 0 then return {-1, 0, base} end
local now = redis.call('TIME')
redis.call('ZADD', KEYS[3], cursor, cursor)
redis.call('ZADD', KEYS[4], now[1] + 60, cursor)
return {cursor - base, n, base}
"""


def server_cpu(client: Any) -> float:
    """The server's CPU seconds so far (user + system)."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def fill(client: Any, case: str, rounds: int) -> None:
    """Store ``rounds`` batches the way ``case`` reads them."""
    client.flushall()
    if case.startswith("segment"):
        for k in range(rounds):
            client.rpush(f"seg:{k}", *([ITEM] * BATCH))
        client.rpush("segments", *[f"seg:{k}" for k in range(rounds)])
    elif case != "ours":
        for _ in range(rounds):
            client.rpush("queue", *([ITEM] * BATCH))


def taker(client: Any, case: str, port: int, rounds: int, short: bool) -> Callable[[int], int]:
    """A function taking batch ``k`` (and acking batch ``k - 1``); returns the items
    read. ``short``: it pushes the batch first."""
    if case == "ours":
        from sergeant_redis import RedisConnector

        connector = RedisConnector(nodes=[{"host": "127.0.0.1", "port": port}])
        for _ in range(0 if short else rounds):
            connector.queue_push_bulk("floor", [ITEM] * BATCH)
        receipts: list[str] = []

        def take_ours(k: int) -> int:
            nonlocal receipts
            if short:
                connector.queue_push_bulk("floor", [ITEM] * BATCH)
            _, batch = connector.queue_ack_and_reserve("floor", receipts, BATCH, 60)
            receipts = batch.receipts()
            return len(batch)

        return take_ours

    if case == "lpop":

        def take_lpop(k: int) -> int:
            if short:
                client.rpush("queue", *([ITEM] * BATCH))
            return len(client.lpop("queue", BATCH))

        return take_lpop

    if case == "range":
        return range_taker(client, short)

    sort_sha = client.script_load(SORT_STORE)
    claim_sha = client.script_load(CLAIM_SEGMENT)
    copy_sha = client.script_load(LUA_COPY)

    def take(k: int) -> int:
        if short:
            client.rpush("queue", *([ITEM] * BATCH))
        pipe = client.pipeline(transaction=False)
        if case == "sort_store":
            pipe.execute_command("EVALSHA", sort_sha, 3, "queue", f"lease:{k}", "leases", BATCH)
        elif case == "lua_copy":
            pipe.execute_command("EVALSHA", copy_sha, 3, "queue", f"lease:{k}", "leases", BATCH)
        elif case == "segment":
            pipe.execute_command("EVALSHA", claim_sha, 3, "segments", f"lease:{k}", "leases")
        else:
            pipe.rename(f"seg:{k}", f"lease:{k}")
        pipe.lrange(f"lease:{k}", 0, -1)
        if k:
            pipe.delete(f"lease:{k - 1}")
        return len(pipe.execute()[1])

    return take


def range_taker(client: Any, short: bool) -> Callable[[int], int]:
    """The ``range`` case: claim positions, then read them, guarded by the head's position."""
    sha = client.script_load(CLAIM_RANGE)
    keys = ("queue", "queue:meta", "queue:starts", "queue:expiries")
    previous = [""]

    def take_range(k: int) -> int:
        if short:
            client.rpush("queue", *([ITEM] * BATCH))
        start, n, base = client.evalsha(sha, len(keys), *keys, BATCH, previous[0])
        while True:
            pipe = client.pipeline(transaction=False)
            pipe.lrange("queue", start, start + n - 1)
            pipe.hget("queue:meta", "base")
            items, now_base = pipe.execute()
            if int(now_base) == base:
                break
            start, base = start - (int(now_base) - base), int(now_base)
        previous[0] = str(start + base)
        return len(items)

    return take_range


def measure(client: Any, port: int, case: str, rounds: int, short: bool) -> float:
    """Server µs per item of ``rounds`` batches of ``case``."""
    if short:
        client.flushall()
    else:
        fill(client, case, rounds)
    take = taker(client, case, port, rounds, short)
    before = server_cpu(client)
    for k in range(rounds):
        if take(k) != BATCH:
            raise SystemExit(f"{case}: batch {k} came short; the queue was not filled right")
    return (server_cpu(client) - before) * 1e6 / (rounds * BATCH)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=200, help="batches of 1,000 per case")
    parser.add_argument("--load", choices=("idle", "busy"), default="idle")
    parser.add_argument("--backlog", choices=("long", "short"), default="long")
    parser.add_argument("--json", action="store_true", help="print the medians as JSON")
    args = parser.parse_args()
    short = args.backlog == "short"
    cases = SHORT_CASES if short else CASES

    root = Path(__file__).resolve().parent.parent
    sys.path[:0] = [str(root / "bench"), str(root / "tests" / "support" / "src")]
    import redis
    from sergeant_test_support.redis_fixtures import RedisServer
    from worker_bench import cpu_hogs

    server = RedisServer(tempfile.mkdtemp(prefix="reserve-floor-")).start()
    results: dict[str, list[float]] = {case: [] for case in cases}
    try:
        client = redis.Redis(port=server.port)
        hogs = (os.cpu_count() or 1) if args.load == "busy" else 0
        with cpu_hogs(hogs):
            for run in range(args.runs):
                turn = run % len(cases)
                for case in cases[turn:] + cases[:turn]:
                    results[case].append(measure(client, server.port, case, args.rounds, short))
                    took = results[case][-1]
                    print(f"run {run + 1} {case:17s} {took:.3f} µs/item", file=sys.stderr)
    finally:
        server.stop()
    medians = {case: statistics.median(values) for case, values in results.items()}
    if args.json:
        summary = {"load": args.load, "backlog": args.backlog, "runs": args.runs}
        print(json.dumps({**summary, "server_us_per_item": medians}))
        return
    print(
        f"\nredis-server CPU per item, batches of {BATCH:,}, "
        f"medians of {args.runs} runs, {args.load}, backlog {args.backlog}"
    )
    print("\n| case | server µs/item | vs `LPOP` |\n|---|---:|---:|")
    for case in cases:
        print(f"| {case} | {medians[case]:.3f} | {medians[case] / medians['lpop']:.2f}x |")


if __name__ == "__main__":
    main()
