"""What running Sergeant 0.27.0's own test suite against us turned up, proved by our own tests.

* ``sergeant.broker.Broker(connector=..., encoder=sergeant.encoder.encoder.Encoder(...))``,
  as Sergeant code builds a broker, works: the payloads are encoded as that
  encoder says (here pickle then zlib) and come back as the tasks pushed.
* The worker's handlers log as Sergeant's did: ``logger.<level>(msg=..., extra=...)``
  with Sergeant's messages, so a ``MagicMock`` logger's ``assert_called_once_with``
  written for Sergeant matches, and a failing hook is reported as
  ``"<hook> handler has failed: <exception>"``.
* On several redis nodes, a node this connector has just pushed to is not put
  last by the hint that it was empty a moment ago: with HIGH and NORMAL items on
  two nodes, two pops of two return the four HIGH items first (before, the stale
  hint sent the second pop back to the first node's NORMAL items).
"""

from __future__ import annotations

import pickle
import zlib
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import sergeant
import sergeant.broker
import sergeant.encoder.encoder
from sergeant.config import Connector, Logging, LoggingEvents, WorkerConfig
from sergeant.objects import Task

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_broker_takes_sergeants_encoder_object(tmp_path: Path) -> None:
    config = Connector(type="local", params={"file_path": str(tmp_path / "q.sqlite3")})
    with sergeant.connect(config) as connector:
        encoder = sergeant.encoder.encoder.Encoder(compressor_name="zlib", serializer_name="pickle")
        broker = sergeant.broker.Broker(connector=connector, encoder=encoder)
        pushed = [Task(kwargs={"n": n}) for n in range(3)]
        assert broker.push_tasks(task_name="q", tasks=pushed)

        raw = connector.queue_pop("q")
        assert raw is not None
        # zlib, then a pickle; the test wrote it, so loading it is safe
        restored = pickle.loads(zlib.decompress(raw))
        assert restored == pushed[0]

        assert broker.pop_tasks(task_name="q", number_of_tasks=5) == pushed[1:]
        assert broker.set_key(name="k", value={"a": (1, 2)})
        assert broker.get_key(name="k") == {"a": (1, 2)}


def _worker(tmp_path: Path, **events: bool) -> sergeant.Worker:
    worker = sergeant.Worker()
    worker.config = WorkerConfig(
        name="findings",
        connector=Connector(type="local", params={"file_path": str(tmp_path / "w.sqlite3")}),
        logging=Logging(events=LoggingEvents(**events)),
    )
    worker.init_broker()
    worker.logger = mock.MagicMock()
    return worker


@pytest.mark.parametrize(
    ("handler", "level", "message"),
    [
        ("timeout", "error", "task has timedout"),
        ("retry", "info", "task has retried"),
        ("requeue", "info", "task has requeued"),
        ("max_retries", "error", "task has reached max retries"),
    ],
)
def test_handlers_log_with_sergeants_calls(
    tmp_path: Path, handler: str, level: str, message: str
) -> None:
    worker = _worker(tmp_path, **{f"on_{handler}": True})
    task = Task(kwargs={"x": 1})
    setattr(worker, f"on_{handler}", mock.MagicMock(side_effect=ValueError("boom")))
    try:
        getattr(worker, f"handle_{handler}")(task=task)
    finally:
        worker.close()

    logged: Any = getattr(worker.logger, level)
    logged.assert_any_call(msg=message, extra={"task": task})
    worker.logger.error.assert_any_call(
        msg=f"on_{handler} handler has failed: boom", extra={"task": task}
    )


def test_failure_logs_sergeants_call_without_the_exception_text(tmp_path: Path) -> None:
    worker = _worker(tmp_path, on_failure=True)
    task = Task(kwargs={"x": 1})
    worker.on_failure = mock.MagicMock()  # type: ignore[method-assign]
    try:
        worker.handle_failure(task=task, exception=ValueError("boom"))
    finally:
        worker.close()
    worker.logger.error.assert_called_once_with(msg="task has failed", extra={"task": task})
    worker.on_failure.assert_called_once()


def test_success_and_starvation_log_with_sergeants_calls(tmp_path: Path) -> None:
    worker = _worker(tmp_path, on_success=True, on_starvation=True)
    task = Task()
    worker.on_starvation = mock.MagicMock(side_effect=RuntimeError("hungry"))
    try:
        worker.handle_success(task=task, returned_value=None)
        worker.handle_starvation(time_with_no_tasks=7)
    finally:
        worker.close()

    worker.logger.info.assert_called_once_with(
        msg="task has finished successfully", extra={"task": task}
    )
    worker.logger.warning.assert_called_once_with(
        msg="worker is starving", extra={"time_with_no_tasks": 7}
    )
    worker.logger.error.assert_called_once_with(
        msg="on_starvation handler has failed: hungry", extra={"time_with_no_tasks": 7}
    )


def test_handlers_stay_quiet_when_their_event_is_off(tmp_path: Path) -> None:
    worker = _worker(tmp_path, on_timeout=False, on_retry=False)
    try:
        worker.handle_timeout(task=Task())
        worker.handle_retry(task=Task())
    finally:
        worker.close()
    worker.logger.error.assert_not_called()
    worker.logger.info.assert_not_called()


def test_redis_node_just_pushed_to_is_not_put_last(
    redis_servers: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sergeant_redis.connector

    # the empty hint lasts a minute here, so a slow machine cannot hide a stale one
    monkeypatch.setattr(sergeant_redis.connector, "EMPTY_HINT", 60.0)
    config = Connector(type="redis", params={"nodes": [s.node() for s in redis_servers]})
    with sergeant.connect(config) as connector:
        queue = f"findings-{id(connector)}"
        connector.queue_delete(queue)
        try:
            assert connector.queue_pop_bulk(queue, 2) == []  # both nodes now hinted empty
            # pushes alternate nodes: each node holds HIGH, HIGH, then NORMAL, NORMAL
            for priority in ["NORMAL", "NORMAL", "HIGH", "HIGH"] * 2:
                connector.queue_push(queue, priority.encode(), priority)
            first = connector.queue_pop_bulk(queue, 2)
            second = connector.queue_pop_bulk(queue, 2)
            assert first + second == [b"HIGH"] * 4
            assert sorted(connector.queue_pop_bulk(queue, 10)) == [b"NORMAL"] * 4
        finally:
            connector.queue_delete(queue)
