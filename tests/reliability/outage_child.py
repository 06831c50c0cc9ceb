"""Child processes of the node-outage scenario: a producer, or a worker.

Usage: ``python outage_child.py producer|worker SPEC_JSON``; the spec carries the
connector (``type``, ``params``), the ``queue`` and the ``out`` file, plus
``rate``/``bulk`` (producer) or ``batch``/``lease_seconds`` (worker).

Both write plain lines the parent follows (see :mod:`outage_run`):

producer
    ``ok TIME FIRST COUNT SECONDS`` once a push of ids ``FIRST..FIRST+COUNT-1``
    returned after ``SECONDS``;
    ``error TIME FIRST COUNT TEXT`` when a push raised (it is then tried again);
    ``end TIME`` after SIGTERM, once the push under way is done.
worker
    ``ready TIME`` once connected; ``ran TIME ID DELIVERIES`` per task run
    (before its ack); ``log TIME LEVEL LOGGER TEXT`` per warning or error of the
    worker's or sergeant's loggers; ``summary TIME TEXT`` for every exception
    of the summary ``work_loop`` returns. Exits 0 only if that summary is clean.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
import types
from typing import Any, TextIO

import sergeant
from sergeant.config import Connector, Logging, WorkerConfig

_EXCEPTIONS = ("initialize_exception", "executor_exception", "finalize_exception")


class Lines:
    """A line-buffered output file shared by threads."""

    def __init__(self, path: str) -> None:
        self._file: TextIO = open(path, "a", buffering=1)  # noqa: SIM115 - lives as long as the process
        self._guard = threading.Lock()

    def write(self, *fields: object) -> None:
        text = " ".join(str(field) for field in fields).replace("\n", " | ")
        with self._guard:
            self._file.write(text + "\n")


class _Stop:
    def __init__(self) -> None:
        self.requested = False

    def __call__(self, _signum: int, _frame: types.FrameType | None) -> None:
        self.requested = True


def connector(spec: dict[str, Any]) -> Connector:
    return Connector(type=spec["connector"]["type"], params=spec["connector"]["params"])


def produce(spec: dict[str, Any]) -> int:
    """Push ids 0, 1, 2... at ``rate`` per second: one alone, then ``bulk`` at once."""
    out = Lines(spec["out"])
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    rate, bulk, queue = float(spec["rate"]), int(spec["bulk"]), spec["queue"]
    with sergeant.connect(connector(spec)) as live:
        broker = sergeant.Broker(live)
        next_id, due = 0, time.monotonic()
        while not stop.requested:
            for count in (1, bulk):
                tasks = [sergeant.Task(kwargs={"id": next_id + i}) for i in range(count)]
                while True:  # the same ids until a push returns: an error is not a loss
                    began = time.monotonic()
                    try:
                        if count == 1:
                            broker.push_task(queue, tasks[0])
                        else:
                            broker.push_tasks(queue, tasks)
                    except Exception as exc:
                        out.write("error", f"{time.time():.4f}", next_id, count, repr(exc))
                        time.sleep(0.05)
                        continue
                    took = time.monotonic() - began
                    out.write("ok", f"{time.time():.4f}", next_id, count, f"{took:.4f}")
                    break
                next_id += count
                due += count / rate
                time.sleep(max(0.0, due - time.monotonic()))  # pacing the load
    out.write("end", f"{time.time():.4f}")
    return 0


class _LineHandler(logging.Handler):
    def __init__(self, out: Lines) -> None:
        super().__init__(logging.WARNING)
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        self.out.write(
            "log", f"{record.created:.4f}", record.levelname, record.name, record.getMessage()
        )


class OutageWorker(sergeant.Worker):
    """Records every task it runs; configured from the spec in ``sys.argv``."""

    spec: dict[str, Any] = {}
    out: Lines

    def generate_config(self) -> WorkerConfig:
        spec = self.spec
        return WorkerConfig(
            name=spec["queue"],
            connector=connector(spec),
            tasks_per_transaction=int(spec["batch"]),
            lease_seconds=float(spec["lease_seconds"]),
            logging=Logging(level=logging.WARNING, handlers=[_LineHandler(self.out)]),
        )

    def initialize(self) -> None:
        self.out.write("ready", f"{time.time():.4f}")

    def work(self, task: sergeant.Task) -> None:
        self.out.write("ran", f"{time.time():.4f}", task.kwargs["id"], self.current.item.deliveries)


def work(spec: dict[str, Any]) -> int:
    """Run an :class:`OutageWorker` until SIGTERM."""
    out = Lines(spec["out"])
    sergeant_logger = logging.getLogger("sergeant")
    sergeant_logger.setLevel(logging.WARNING)
    sergeant_logger.addHandler(_LineHandler(out))
    OutageWorker.spec, OutageWorker.out = spec, out
    worker = OutageWorker()
    worker.init_worker()
    try:
        summary = worker.work_loop()
    finally:
        worker.close()
    failed = [f"{key}: {summary[key]!r}" for key in _EXCEPTIONS if summary.get(key) is not None]
    for text in failed:
        out.write("summary", f"{time.time():.4f}", text)
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    role, spec = argv[0], json.loads(argv[1])
    return produce(spec) if role == "producer" else work(spec)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
