"""The patterns of Sergeant's documentation examples, written as our own tests.

Sergeant's users wrote their workers the way its documentation pages do: type
hints such as ``task: sergeant.objects.Task`` after a bare ``import sergeant``,
a base worker whose config derived workers ``replace``, locks around a
throttled resource, ``retry`` with ``consumable_from``, an APM transaction
opened in ``pre_work`` with the task's ``trace_id``, ``stop`` from
``on_starvation``, Logstash handlers in ``Logging``, and the supervisor started
from code with a logger of its own. Each runs here, against ours, on the
``local`` backend and a real redis-server.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import sergeant
import sergeant.supervisor

BACKENDS = ("local", "redis")


@pytest.fixture(params=BACKENDS)
def connector(request: pytest.FixtureRequest, tmp_path: Path) -> sergeant.config.Connector:
    """A connector config, as Sergeant's documentation writes one, on fresh storage."""
    if request.param == "local":
        return sergeant.config.Connector(
            type="local", params={"file_path": str(tmp_path / "queue.sqlite3")}
        )
    server = request.getfixturevalue("redis_server")
    return sergeant.config.Connector(
        type="redis",
        params={
            "nodes": [{"host": server.host, "port": server.port, "password": None, "database": 0}]
        },
    )


@pytest.fixture
def name() -> str:
    return f"patterns-{uuid.uuid4().hex[:10]}"


def _run(worker: sergeant.worker.Worker) -> dict[str, Any]:
    worker.init_worker()
    return worker.work_loop()


def _python(source: str, *, cwd: Path | None = None, **env: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
        env={**os.environ, **env},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def test_hints_after_a_bare_import_sergeant() -> None:
    output = _python(
        """
        import sys
        import typing

        import sergeant


        class Worker(sergeant.worker.Worker):
            def generate_config(self) -> sergeant.config.WorkerConfig:
                return sergeant.config.WorkerConfig(name='hinted')

            def work(self, task: sergeant.objects.Task) -> typing.Any:
                return None

            def on_failure(self, task: sergeant.objects.Task, exception: Exception) -> None:
                pass

            def take(self, name: str) -> sergeant.connector.Lock:
                return self.lock(name)

            def handlers(self) -> typing.List[sergeant.logging.logstash.LogstashHandler]:
                return []

            def encoder(self) -> sergeant.encoder.encoder.Encoder:
                return sergeant.encoder.encoder.Encoder(None, 'msgpack')


        hints = {
            name: typing.get_type_hints(getattr(Worker, name))
            for name in ('generate_config', 'work', 'on_failure', 'take', 'encoder')
        }
        print(hints['work']['task'] is sergeant.objects.Task)
        print(hints['take']['return'] is sergeant.connector.Lock)
        print(hints['generate_config']['return'] is sergeant.config.WorkerConfig)
        print(hints['encoder']['return'] is sergeant.encoder.encoder.Encoder)
        print(Worker().config.name)
        print(sorted({'redis', 'pymongo'} & set(sys.modules)))
        """
    )
    assert output.split("\n") == ["True", "True", "True", "True", "hinted", "[]", ""]


def test_a_running_worker_receives_sergeant_objects_tasks(
    connector: sergeant.config.Connector, name: str
) -> None:
    seen: list[tuple[bool, dict[str, Any]]] = []

    class Worker(sergeant.worker.Worker):
        def generate_config(self) -> sergeant.config.WorkerConfig:
            return sergeant.config.WorkerConfig(name=name, connector=connector, max_tasks_per_run=2)

        def work(self, task: sergeant.objects.Task) -> None:
            seen.append((isinstance(task, sergeant.objects.Task), task.kwargs))

    worker = Worker()
    worker.init_broker()
    worker.push_tasks(kwargs_list=[{"url": "a"}, {"url": "b"}])
    _run(worker)
    assert seen == [(True, {"url": "a"}), (True, {"url": "b"})]


def test_base_worker_and_derived_worker_replace(
    connector: sergeant.config.Connector, name: str
) -> None:
    ran: list[str] = []

    class BaseWorker(sergeant.worker.Worker):
        def generate_config(self) -> sergeant.config.WorkerConfig:
            return sergeant.config.WorkerConfig(
                name=f"{name}-base", connector=connector, max_tasks_per_run=1
            )

        def work(self, task: sergeant.objects.Task) -> None:
            ran.append(self.config.name)

    class DerivedWorker(BaseWorker):
        def generate_config(self) -> sergeant.config.WorkerConfig:
            return super().generate_config().replace(name=f"{name}-derived")

    derived = DerivedWorker()
    assert derived.config.connector == BaseWorker().config.connector
    assert derived.config.max_tasks_per_run == 1
    derived.init_broker()
    derived.push_task(kwargs={})
    _run(derived)
    assert ran == [f"{name}-derived"]


def test_lock_around_a_single_access_resource(
    connector: sergeant.config.Connector, name: str
) -> None:
    calls: list[tuple[bool, bool]] = []

    class Worker(sergeant.worker.Worker):
        def generate_config(self) -> sergeant.config.WorkerConfig:
            return sergeant.config.WorkerConfig(name=name, connector=connector, max_tasks_per_run=2)

        def work(self, task: sergeant.objects.Task) -> None:
            lock = self.lock("single_access_api")
            acquired = lock.acquire(timeout=10, check_interval=1.0, ttl=60)
            if acquired:
                try:
                    calls.append((lock.is_locked(), 50 <= (lock.get_ttl() or 0) <= 60))
                finally:
                    lock.release()

    worker = Worker()
    worker.init_broker()
    worker.push_tasks(kwargs_list=[{"n": 1}, {"n": 2}])
    _run(worker)
    assert calls == [(True, True), (True, True)]
    assert worker.lock("single_access_api").is_locked() is False


def test_retry_half_an_hour_later(connector: sergeant.config.Connector, name: str) -> None:
    class Worker(sergeant.worker.Worker):
        def generate_config(self) -> sergeant.config.WorkerConfig:
            return sergeant.config.WorkerConfig(name=name, connector=connector, max_tasks_per_run=1)

        def work(self, task: sergeant.objects.Task) -> None:
            blocked = True
            if blocked:
                self.retry(task=task, consumable_from=time.time() + 60 * 30)

    worker = Worker()
    worker.init_broker()
    worker.push_task(kwargs={"url": "https://example.com"})
    _run(worker)
    assert worker.number_of_enqueued_tasks() == 0
    assert worker.number_of_enqueued_tasks(include_delayed=True) == 1


def test_apm_transaction_per_task_with_trace_ids(
    connector: sergeant.config.Connector, name: str
) -> None:
    class Apm:
        def __init__(self) -> None:
            self.transactions: list[tuple[str, str | None, str]] = []
            self.open: str | None = None
            self.closed = False

        def begin_transaction(self, transaction_type: str, trace_parent: str | None) -> None:
            self.open = trace_parent

        def end_transaction(self, name: str, result: str) -> None:
            self.transactions.append((name, self.open, result))

        def close(self) -> None:
            self.closed = True

    apm = Apm()

    class Worker(sergeant.worker.Worker):
        def generate_config(self) -> sergeant.config.WorkerConfig:
            return sergeant.config.WorkerConfig(
                name=name,
                connector=connector,
                max_tasks_per_run=3,
                tasks_per_transaction=1,
                max_retries=3,
                logging=sergeant.config.Logging(level=logging.INFO, log_to_stdout=False),
            )

        def initialize(self) -> None:
            self.apm_client = apm

        def finalize(self) -> None:
            self.apm_client.close()

        def pre_work(self, task: sergeant.objects.Task) -> None:
            self.apm_client.begin_transaction(transaction_type="work", trace_parent=task.trace_id)

        def post_work(
            self, task: sergeant.objects.Task, success: bool, exception: BaseException | None
        ) -> None:
            self.apm_client.end_transaction(name="work", result="success" if success else "failure")

        def work(self, task: sergeant.objects.Task) -> None:
            if task.kwargs["url"] == "bad":
                raise ConnectionError("unreachable")

    producer = Worker()
    producer.init_broker()
    producer.purge_tasks()
    for i, url in enumerate(["good", "bad", "good"]):
        producer.push_task(kwargs={"url": url}, trace_id=str(i))
    _run(Worker())
    assert apm.transactions == [
        ("work", "0", "success"),
        ("work", "1", "failure"),
        ("work", "2", "success"),
    ]
    assert apm.closed


def test_stop_a_starving_worker(connector: sergeant.config.Connector, name: str) -> None:
    starved: list[int] = []

    class Worker(sergeant.worker.Worker):
        def generate_config(self) -> sergeant.config.WorkerConfig:
            return sergeant.config.WorkerConfig(
                name=name,
                connector=connector,
                starvation=sergeant.config.Starvation(time_with_no_tasks=1),
            )

        def on_starvation(self, time_with_no_tasks: int) -> None:
            starved.append(time_with_no_tasks)
            self.stop()

    summary = _run(Worker())
    assert summary["stop"] is True
    assert starved == [1]


def test_logging_config_examples(connector: sergeant.config.Connector, name: str) -> None:
    configs = [
        sergeant.config.Logging(level=logging.INFO, log_to_stdout=True),
        sergeant.config.Logging(
            level=logging.INFO,
            log_to_stdout=True,
            handlers=[sergeant.logging.logstash.LogstashHandler(host="localhost", port=9999)],
        ),
        sergeant.config.Logging(
            handlers=[
                sergeant.logging.logstash.BufferedLogstashHandler(
                    host="localhost", port=9999, timeout=2.0, chunk_size=100, max_store_time=60.0
                )
            ]
        ),
    ]
    for index, config in enumerate(configs):

        class Worker(sergeant.worker.Worker):
            def generate_config(self) -> sergeant.config.WorkerConfig:
                return sergeant.config.WorkerConfig(
                    name=self.example_queue,
                    connector=connector,
                    logging=self.example_logging,
                    max_tasks_per_run=1,
                )

            def work(self, task: sergeant.objects.Task) -> None:
                self.logger.info(f"task parameters are: {task.kwargs}")
                raise ValueError("logged, whether or not Logstash listens")

        Worker.example_queue, Worker.example_logging = f"{name}-{index}", config
        worker = Worker()
        worker.init_broker()
        worker.push_task(kwargs={"some_parameter": "one"})
        summary = _run(worker)
        assert summary["executor_exception"] is None
        assert worker.number_of_enqueued_tasks(include_delayed=True) == 0


def test_dynamic_generate_config(connector: sergeant.config.Connector, name: str) -> None:
    def load_balancer_answer() -> dict[str, Any]:
        if connector.type == "local":
            return {"file_path": connector.params["file_path"]}
        (node,) = connector.params["nodes"]
        return {key: node[key] for key in ("host", "port", "password", "database")}

    class Worker(sergeant.worker.Worker):
        def generate_config(self) -> sergeant.config.WorkerConfig:
            configuration = load_balancer_answer()
            if "file_path" in configuration:
                params: dict[str, Any] = configuration
            else:
                params = {
                    "nodes": [
                        {
                            "host": configuration["host"],
                            "port": configuration["port"],
                            "password": configuration["password"],
                            "database": configuration["database"],
                        }
                    ]
                }
            return sergeant.config.WorkerConfig(
                name=name,
                connector=sergeant.config.Connector(type=connector.type, params=params),
            )

    worker = Worker()
    worker.init_broker()
    worker.push_task(kwargs={"n": 1})
    assert [t.kwargs for t in worker.get_next_tasks(number_of_tasks=1)] == [{"n": 1}]


def test_get_next_tasks_from_another_queue(connector: sergeant.config.Connector, name: str) -> None:
    class Worker(sergeant.worker.Worker):
        def generate_config(self) -> sergeant.config.WorkerConfig:
            return sergeant.config.WorkerConfig(name=name, connector=connector, max_tasks_per_run=1)

        def work(self, task: sergeant.objects.Task) -> None:
            statistics = {"google.com": 0, "facebook.com": 0}
            while True:
                tasks = self.get_next_tasks(number_of_tasks=1000, task_name=f"{name}-unfiltered")
                if not tasks:
                    break
                for unfiltered in tasks:
                    domain = unfiltered.kwargs["domain"]
                    if domain not in statistics:
                        continue
                    statistics[domain] += 1
                    self.push_task(
                        kwargs={"domain": domain, "params": unfiltered.kwargs["params"]},
                        task_name=f"{name}-filtered",
                    )

    worker = Worker()
    worker.init_broker()
    domains = ["google.com", "example.org", "facebook.com"] * 700
    worker.push_tasks(
        kwargs_list=[{"domain": d, "params": i} for i, d in enumerate(domains)],
        task_name=f"{name}-unfiltered",
    )
    worker.push_task(kwargs={})
    _run(worker)
    assert worker.number_of_enqueued_tasks(task_name=f"{name}-unfiltered") == 0
    assert worker.number_of_enqueued_tasks(task_name=f"{name}-filtered") == 1400


def test_every_connector_example_constructs(tmp_path: Path) -> None:
    node = {"host": "localhost", "port": 6379, "password": None, "database": 0}
    mongo = {"host": "localhost", "port": 27017, "replica_set": "replica_set_name"}
    examples = [
        sergeant.config.Connector(type="redis", params={"nodes": [node]}),
        sergeant.config.Connector(type="redis", params={"nodes": [node, {**node, "port": 6380}]}),
        sergeant.config.Connector(type="mongo", params={"nodes": [mongo]}),
        sergeant.config.Connector(
            type="mongo", params={"nodes": [mongo, {**mongo, "port": 27018}]}
        ),
        sergeant.config.Connector(type="local", params={"file_path": str(tmp_path / "db.sqlite3")}),
    ]
    assert [example.type for example in examples] == ["redis", "redis", "mongo", "mongo", "local"]


def test_encoder_examples(connector: sergeant.config.Connector, name: str) -> None:
    got: list[Any] = []
    examples = [
        sergeant.config.Encoder(compressor=None, serializer="pickle"),
        sergeant.config.Encoder(compressor="zlib", serializer="pickle"),
        sergeant.config.Encoder(compressor="lzma", serializer="msgpack"),
    ]
    for index, encoder in enumerate(examples):

        class Worker(sergeant.worker.Worker):
            def generate_config(self) -> sergeant.config.WorkerConfig:
                return sergeant.config.WorkerConfig(
                    name=self.example_queue,
                    connector=connector,
                    encoder=self.example_encoder,
                    max_tasks_per_run=1,
                )

            def work(self, task: sergeant.objects.Task) -> None:
                got.append(task.kwargs)

        Worker.example_queue, Worker.example_encoder = f"{name}-{index}", encoder
        worker = Worker()
        worker.init_broker()
        worker.push_task(kwargs={"pair": (1, 2), "blob": b"\x00"})
        _run(worker)
    assert got == [{"pair": (1, 2), "blob": b"\x00"}] * 3


def _write_consumer(directory: Path, connector: sergeant.config.Connector, name: str) -> Path:
    done = directory / "done.jsonl"
    (directory / "consumer.py").write_text(
        textwrap.dedent(
            f"""
            import json

            import sergeant


            class Worker(sergeant.worker.Worker):
                def generate_config(self):
                    return sergeant.config.WorkerConfig(
                        name={name!r},
                        connector=sergeant.config.Connector(
                            type={connector.type!r}, params={dict(connector.params)!r}
                        ),
                    )

                def work(self, task):
                    with open({str(done)!r}, "a") as done:
                        done.write(json.dumps(task.kwargs) + "\\n")
                    self.stop()
            """
        )
    )
    return done


def test_supervisor_started_from_code_with_its_own_logger(
    connector: sergeant.config.Connector, name: str, tmp_path: Path
) -> None:
    done = _write_consumer(tmp_path, connector, name)
    _python(
        """
        import sys

        sys.path.insert(0, '.')
        import consumer

        producer = consumer.Worker()
        producer.init_broker()
        producer.purge_tasks()
        producer.push_task(kwargs={'some_parameter': 'one'})
        """,
        cwd=tmp_path,
    )
    output = _python(
        """
        import logging

        import sergeant
        import sergeant.supervisor


        def main():
            logger = logging.getLogger(name='Supervisor')
            logger.addHandler(logging.StreamHandler())
            logger.setLevel(level=logging.INFO)
            supervisor = sergeant.supervisor.Supervisor(
                worker_module_name='consumer',
                worker_class_name='Worker',
                concurrent_workers=1,
                max_worker_memory_usage=None,
                logger=logger,
            )
            supervisor.start()
            print('supervisor returned')


        if __name__ == '__main__':
            main()
        """,
        cwd=tmp_path,
        PYTHONPATH=str(tmp_path),
    )
    assert "supervisor returned" in output
    assert [json.loads(line) for line in done.read_text().splitlines()] == [
        {"some_parameter": "one"}
    ]
