"""A separate process for the multi-process tests: ``python _child.py MODE FILE QUEUE ...``.

Modes:
    drain OUT BATCH     reserve BATCH at a time, ack, append each acked item to OUT
    hold COUNT LEASE    reserve COUNT items under LEASE seconds, print them, wait to be killed
    push BATCH          push batches of BATCH items tagged with their batch number forever,
                        printing each batch number once it is committed
"""

from __future__ import annotations

import sys
import time

from sergeant_local import LocalConnector


def main(mode: str, file_path: str, queue: str, *args: str) -> None:
    connector = LocalConnector(file_path=file_path)
    if mode == "drain":
        out, batch = args[0], int(args[1])
        with open(out, "w") as sink:
            while deliveries := connector.queue_reserve(queue, batch, 60):
                acked = connector.queue_ack(queue, [d.receipt for d in deliveries])
                assert acked == len(deliveries), (acked, len(deliveries))
                sink.write("".join(d.item.decode() + "\n" for d in deliveries))
    elif mode == "hold":
        deliveries = connector.queue_reserve(queue, int(args[0]), float(args[1]))
        print(" ".join(d.item.decode() for d in deliveries), flush=True)
        time.sleep(600)
    elif mode == "push":
        size = int(args[0])
        number = 0
        while True:
            connector.queue_push_bulk(queue, [f"b{number}-{i}".encode() for i in range(size)])
            print(number, flush=True)
            number += 1
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
