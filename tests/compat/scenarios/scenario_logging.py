"""The worker's logging: ``sergeant.config.Logging`` (level, ``log_to_stdout``,
``events``, ``handlers``) and the Logstash handlers of ``sergeant.logging.logstash``.

A handler in ``Logging.handlers`` records what the worker logs; the Logstash
handlers send to a TCP listener in this process, whose messages are compared
without the fields that name the host, the clock or the source line.
"""

import io
import json
import logging
import re
import socket
import sys
import threading
import time

import sergeant
from _harness import behaviour, main, run_worker, wait_until


class Recorder(logging.Handler):
    """Keeps every record it is given."""

    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


def _views(records):
    views = []
    for record in records:
        task = getattr(record, "task", None)
        view = {"level": record.levelname, "task": None if task is None else task.kwargs}
        if hasattr(record, "time_with_no_tasks"):
            view["time_with_no_tasks"] = record.time_with_no_tasks
        views.append(view)
    return views


def _every_event_worker(ctx, logging_config, **fields):
    """A worker whose three tasks succeed, fail, then retry up to max_retries=1."""

    class Worker(sergeant.worker.Worker):
        def generate_config(self):
            return ctx.worker_config(
                logging=logging_config, max_retries=1, max_tasks_per_run=5, **fields
            )

        def work(self, task):
            action = task.kwargs["action"]
            if action == "fail":
                raise ValueError("boom")
            if action == "retry":
                self.retry(task=task)
            if action == "requeue" and task.run_count == 0:
                task.run_count = 0
                task.kwargs["action"] = "done"
                self.requeue(task=task)

    worker = Worker()
    worker.init_broker()
    worker.push_tasks(
        kwargs_list=[
            {"action": "succeed"},
            {"action": "fail"},
            {"action": "retry"},
            {"action": "requeue"},
        ]
    )
    return worker


@behaviour()
def default_logging_logs_errors_only(ctx):
    recorder = Recorder()
    worker = _every_event_worker(ctx, sergeant.config.Logging(handlers=[recorder]))
    run_worker(worker)
    return _views(recorder.records)


@behaviour()
def info_level_logs_every_enabled_event(ctx):
    recorder = Recorder()
    config = sergeant.config.Logging(
        level=logging.INFO,
        handlers=[recorder],
        events=sergeant.config.LoggingEvents(on_success=True),
    )
    worker = _every_event_worker(ctx, config)
    run_worker(worker)
    return _views(recorder.records)


@behaviour()
def event_messages(ctx):
    recorder = Recorder()
    config = sergeant.config.Logging(
        level=logging.INFO,
        handlers=[recorder],
        events=sergeant.config.LoggingEvents(on_success=True),
    )
    worker = _every_event_worker(ctx, config)
    run_worker(worker)
    return [record.getMessage() for record in recorder.records]


@behaviour()
def timeout_message(ctx):
    recorder = Recorder()

    class Worker(sergeant.worker.Worker):
        def generate_config(self):
            return ctx.worker_config(
                logging=sergeant.config.Logging(handlers=[recorder]),
                timeouts=sergeant.config.Timeouts(timeout=0.5, grace_period=30.0),
                max_tasks_per_run=1,
            )

        def work(self, task):
            time.sleep(30)

    worker = Worker()
    worker.init_broker()
    worker.push_task(kwargs={"n": 1})
    run_worker(worker)
    return [[r.levelname, r.getMessage(), r.task.kwargs] for r in recorder.records]


@behaviour()
def disabled_events_are_not_logged(ctx):
    recorder = Recorder()
    events = sergeant.config.LoggingEvents(
        on_failure=False, on_retry=False, on_max_retries=False, on_requeue=False
    )
    config = sergeant.config.Logging(level=logging.DEBUG, handlers=[recorder], events=events)
    worker = _every_event_worker(ctx, config)
    run_worker(worker)
    return _views(recorder.records)


@behaviour()
def failing_handler_is_logged(ctx):
    recorder = Recorder()

    class Worker(sergeant.worker.Worker):
        def generate_config(self):
            return ctx.worker_config(
                logging=sergeant.config.Logging(handlers=[recorder]), max_tasks_per_run=1
            )

        def work(self, task):
            raise ValueError("boom")

        def on_failure(self, task, exception):
            raise RuntimeError("handler bug")

    worker = Worker()
    worker.init_broker()
    worker.push_task(kwargs={"n": 1})
    run_worker(worker)
    return [[r.levelname, r.getMessage()] for r in recorder.records if "handler" in r.getMessage()]


@behaviour()
def starvation_is_logged(ctx):
    recorder = Recorder()

    class Worker(sergeant.worker.Worker):
        def generate_config(self):
            return ctx.worker_config(
                logging=sergeant.config.Logging(level=logging.INFO, handlers=[recorder]),
                starvation=sergeant.config.Starvation(time_with_no_tasks=1),
            )

        def on_starvation(self, time_with_no_tasks):
            self.stop()

    worker = Worker()
    worker.init_broker()
    run_worker(worker)
    return [[r.levelname, r.getMessage(), r.time_with_no_tasks] for r in recorder.records]


@behaviour()
def log_to_stdout_format(ctx):
    captured = io.StringIO()
    real_stdout, sys.stdout = sys.stdout, captured
    try:

        class Worker(sergeant.worker.Worker):
            def generate_config(self):
                return ctx.worker_config(
                    name="stdout_worker",
                    logging=sergeant.config.Logging(level=logging.ERROR, log_to_stdout=True),
                    max_tasks_per_run=1,
                )

            def work(self, task):
                self.logger.error("custom message %s", task.kwargs["n"])

        worker = Worker()
        worker.init_broker()
        worker.purge_tasks()
        worker.push_task(kwargs={"n": 7})
        run_worker(worker)
    finally:
        sys.stdout = real_stdout
    lines = captured.getvalue().splitlines()
    shapes = []
    for line in lines:
        shape = re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", "<time> ", line)
        shapes.append(shape.replace(f" {__import__('os').getpid()} ", " <pid> "))
    return shapes


@behaviour()
def handlers_are_attached_to_the_worker_logger(ctx):
    recorder = Recorder()

    class Worker(sergeant.worker.Worker):
        def generate_config(self):
            return ctx.worker_config(logging=sergeant.config.Logging(handlers=[recorder]))

    worker = Worker()
    worker.init_worker()
    worker.logger.error("hello %s", "there")
    return {
        "attached": recorder in worker.logger.handlers,
        "records": [[r.name == worker.config.name, r.getMessage()] for r in recorder.records],
    }


# Logstash -----------------------------------------------------------------


class Listener:
    """A TCP server on a free port keeping what each connection sent."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            connection, _ = self.server.accept()
            with connection:
                chunks = []
                while chunk := connection.recv(65536):
                    chunks.append(chunk)
            self.connections.append(b"".join(chunks))


_VARYING = {"@timestamp"}
_VARYING_EMITTER = {"hostname", "ipaddress", "pathname", "line"}


def _message_view(data):
    message = json.loads(data)
    view = {key: value for key, value in message.items() if key not in _VARYING}
    view["name"] = view["name"].rsplit(".", 1)[-1]
    view["emitter"] = sorted(message["emitter"])
    view["emitter_function"] = message["emitter"]["function"]
    if "exception" in message:
        view["exception"] = {
            "type": message["exception"]["type"],
            "message": message["exception"]["message"],
            "has_stacktrace": "Traceback" in message["exception"]["stacktrace"],
        }
    task = view["extra"].get("task")
    if isinstance(task, dict) and "date" in task:
        task["date"] = type(task["date"]).__name__
    return view


@behaviour("local")
def logstash_handler_sends_each_record(ctx):
    listener = Listener()
    handler = sergeant.logging.logstash.LogstashHandler(host="127.0.0.1", port=listener.port)
    logger = logging.getLogger(ctx.name())
    logger.addHandler(handler)
    task = sergeant.objects.Task(kwargs={"url": "u"}, trace_id="t", date=1.0, run_count=0)
    logger.error("task has failed", extra={"task": task, "attempt": 2})
    try:
        raise ValueError("inside")
    except ValueError:
        logger.error("caught it")
    wait_until(lambda: len(listener.connections) == 2, timeout=30)
    return [_message_view(data) for data in listener.connections]


@behaviour("local")
def buffered_logstash_handler_sends_in_chunks(ctx):
    listener = Listener()
    handler = sergeant.logging.logstash.BufferedLogstashHandler(
        host="127.0.0.1", port=listener.port, chunk_size=2, max_store_time=3600.0
    )
    logger = logging.getLogger(ctx.name())
    logger.addHandler(handler)
    for number in range(3):
        logger.warning("record %d", number)
    wait_until(lambda: len(listener.connections) == 1, timeout=30)
    first = list(listener.connections)
    handler.flush()
    wait_until(lambda: len(listener.connections) == 2, timeout=30)
    return {
        "after_three_records": [
            [_message_view(line)["message"] for line in data.splitlines()] for data in first
        ],
        "after_flush": [
            [_message_view(line)["message"] for line in data.splitlines()]
            for data in listener.connections
        ],
        "newline_terminated": [data.endswith(b"\n") for data in listener.connections],
    }


@behaviour("local")
def logstash_handler_without_a_server(ctx):
    port = socket.create_server(("127.0.0.1", 0))
    free = port.getsockname()[1]
    port.close()
    handler = sergeant.logging.logstash.LogstashHandler(host="127.0.0.1", port=free, timeout=1.0)
    logger = logging.getLogger(ctx.name())
    logger.addHandler(handler)
    streams = {"stdout": io.StringIO(), "stderr": io.StringIO()}
    real = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = streams["stdout"], streams["stderr"]
    try:
        for number in range(3):
            logger.error("nobody listens %d", number)
    finally:
        sys.stdout, sys.stderr = real
    return {
        name: sum("logstash server" in line for line in stream.getvalue().splitlines())
        for name, stream in streams.items()
    }


if __name__ == "__main__":
    main()
