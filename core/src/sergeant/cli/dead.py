"""``sergeant dead list|requeue|purge``: the dead-letter queue of a queue."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from typing import Any

from sergeant._connect import connect
from sergeant.broker import Broker, DeadLetter, dead_queue_name
from sergeant.cli._connector_option import (
    add_connector_options,
    connector_from_args,
    encoder_from_args,
)
from sergeant.cli._progress import line_progress
from sergeant.cli._words import counted, printable
from sergeant.errors import ConfigError, TaskDecodeError

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "dead",
        help="list, requeue or purge dead letters",
        description="Tasks that could not be decoded, kept killing their workers, or exceeded"
        " max_retries wait in QUEUE:dead with the reason.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="show dead letters with their reasons")
    listing.add_argument("queue")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--json", action="store_true", help="print JSON for scripts")
    add_connector_options(listing, encoder=True)
    requeue = actions.add_parser("requeue", help="move dead letters back onto their queue")
    requeue.add_argument("queue")
    requeue.add_argument("--limit", type=int, default=None, help="at most this many")
    add_connector_options(requeue)
    purge = actions.add_parser("purge", help="delete every dead letter of the queue")
    purge.add_argument("queue")
    add_connector_options(purge)
    parser.set_defaults(handler=run)


def _describe(broker: Broker, entry: DeadLetter) -> dict[str, Any]:
    try:
        shown: Any = broker.encoder.decode_task(entry.payload).kwargs
        kwargs = repr(shown)
    except TaskDecodeError:
        kwargs = None
    return {
        "reason": entry.reason,
        "deliveries": entry.deliveries,
        "date": datetime.datetime.fromtimestamp(entry.date, datetime.UTC).isoformat(),
        "kwargs": kwargs,
        "payload_hex": entry.payload[:64].hex(),
        "payload_size": len(entry.payload),
    }


#: Dead letters requeued between two redraws of the progress line.
STEP = 10_000


def _requeue(broker: Broker, queue: str, limit: int | None) -> int:
    """:meth:`Broker.requeue_dead`, :data:`STEP` at a time, with progress on a terminal."""
    total = broker.connector.queue_length(dead_queue_name(queue), include_delayed=True)
    total = total if limit is None else min(limit, total)  # None: what is there now
    progress = line_progress(lambda n: f"requeued {n:,} of {total:,} dead letters", total > STEP)
    moved = 0
    try:
        while moved < total and (step := broker.requeue_dead(queue, min(STEP, total - moved))):
            moved += step
            if progress is not None:
                progress(moved)
    except KeyboardInterrupt:
        if progress is not None:
            progress.clear()
        print(f"interrupted: {moved:,} of {total:,} dead letters requeued", file=sys.stderr)
        raise
    finally:
        if progress is not None:
            progress.clear()
    return moved


def run(args: argparse.Namespace) -> int:
    limit = getattr(args, "limit", None)
    if limit is not None and limit < 1:
        raise ConfigError("--limit", limit, "expected a whole number of at least 1")
    with connect(connector_from_args(args)) as connector:
        if args.action == "purge":
            Broker(connector).purge_dead(args.queue)
            print(f"purged the dead letters of {args.queue!r}")
            return 0
        if args.action == "requeue":
            moved = _requeue(Broker(connector), args.queue, args.limit)
            print(f"requeued {counted(moved, 'dead letter')} onto {args.queue!r}")
            return 0
        broker = Broker(connector, encoder_from_args(args))
        entries = [_describe(broker, e) for e in broker.dead_letters(args.queue, args.limit)]
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    if not entries:
        print(f"no dead letters for {args.queue!r}")
    for entry in entries:
        what = entry["kwargs"] or f"{entry['payload_size']} bytes 0x{entry['payload_hex']}"
        reason = printable(entry["reason"])
        print(f"{entry['date']}  deliveries={entry['deliveries']}  {reason}\n    {what}")
    return 0
