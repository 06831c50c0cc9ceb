"""``sergeant stats``: ready, delayed, in-flight and dead tasks of queues, per node.

With no queue named, every queue holding tasks is shown (the connector's
``queue_names``). A dead-letter queue (``<queue>:dead``) is never a row of its
own: its count is the DEAD column of its queue, which gets a row even when only
its dead letters are left.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sergeant._connect import connect
from sergeant._legacy_check import legacy_counts, legacy_warning
from sergeant.broker import dead_queue_name
from sergeant.cli._connector_option import add_connector_options, connector_from_args
from sergeant.cli._words import printable

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "stats",
        help="queue lengths per node, delayed, in flight and dead",
        description="Show ready, delayed and in-flight tasks per storage node, and dead letters.",
    )
    parser.add_argument(
        "queues", nargs="*", metavar="QUEUE", help="queues to show (default: every queue)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    add_connector_options(parser)
    parser.set_defaults(handler=run)


def _queues_of(names: list[str]) -> list[str]:
    """The queues behind ``names``: dead-letter queues stand for their queue."""
    suffix = dead_queue_name("")
    dead = {name for name in names if name.endswith(suffix) and name != suffix}
    return sorted({name[: -len(suffix)] for name in dead} | (set(names) - dead))


def run(args: argparse.Namespace) -> int:
    report: dict[str, Any] = {}
    with connect(connector_from_args(args)) as connector:
        queues = args.queues or _queues_of(connector.queue_names())
        for queue in queues:
            nodes = connector.queue_stats(queue)
            report[queue] = {
                "ready": sum(n.ready for n in nodes),
                "delayed": sum(n.delayed for n in nodes),
                "in_flight": sum(n.in_flight for n in nodes),
                "dead": connector.queue_length(dead_queue_name(queue), include_delayed=True),
                "nodes": [
                    {
                        "node": n.node,
                        "ready": n.ready,
                        "delayed": n.delayed,
                        "in_flight": n.in_flight,
                    }
                    for n in nodes
                ],
            }
        for queue, count in legacy_counts(connector, args.queues).items():
            report[queue]["legacy"] = count
            print(f"warning: {printable(legacy_warning(queue, count))}", file=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    if not report:
        print("no queue holds tasks")
        return 0
    rows = [("QUEUE", "NODE", "READY", "DELAYED", "IN FLIGHT", "DEAD")]
    for queue, entry in report.items():
        for node in entry["nodes"]:
            rows.append(
                (
                    printable(queue),
                    printable(node["node"]),
                    str(node["ready"]),
                    str(node["delayed"]),
                    str(node["in_flight"]),
                    "",
                )
            )
        rows.append(
            (
                printable(queue),
                "(total)",
                str(entry["ready"]),
                str(entry["delayed"]),
                str(entry["in_flight"]),
                str(entry["dead"]),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return 0
