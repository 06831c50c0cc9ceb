"""Sergeant 0.27.0's public modules and the names each defines: which import, and
which names are missing. One behaviour per module; nothing here touches storage,
so they run on the ``local`` backend only.
"""

import importlib

import sergeant
from _harness import behaviour, main

#: Every public module of Sergeant 0.27.0 and the public names it defines.
MODULES = {
    "sergeant": [
        "broker",
        "config",
        "connector",
        "encoder",
        "executor",
        "killer",
        "logging",
        "objects",
        "worker",
    ],
    "sergeant.broker": ["Broker"],
    "sergeant.config": [
        "Connector",
        "Encoder",
        "Logging",
        "LoggingEvents",
        "Starvation",
        "Timeouts",
        "WorkerConfig",
    ],
    "sergeant.connector": ["Connector", "Lock", "local", "mongo", "redis"],
    "sergeant.connector.local": ["Connector", "Lock"],
    "sergeant.connector.mongo": ["Connector", "Lock"],
    "sergeant.connector.redis": ["Connector", "Lock", "QueueRedis"],
    "sergeant.encoder": ["compressor", "encoder", "serializer"],
    "sergeant.encoder.compressor": ["bzip2", "gzip", "lzma", "zlib"],
    "sergeant.encoder.compressor.bzip2": ["Compressor"],
    "sergeant.encoder.compressor.gzip": ["Compressor"],
    "sergeant.encoder.compressor.lzma": ["Compressor"],
    "sergeant.encoder.compressor.zlib": ["Compressor"],
    "sergeant.encoder.encoder": ["Encoder"],
    "sergeant.encoder.serializer": ["msgpack", "pickle"],
    "sergeant.encoder.serializer.msgpack": ["Serializer"],
    "sergeant.encoder.serializer.pickle": ["Serializer"],
    "sergeant.executor": ["serial", "threaded"],
    "sergeant.executor.serial": ["SerialExecutor"],
    "sergeant.executor.threaded": ["ThreadedExecutor"],
    "sergeant.killer": ["process", "thread"],
    "sergeant.killer.process": ["Killer", "KillerServer", "main"],
    "sergeant.killer.thread": ["Killer"],
    "sergeant.logging": ["logstash"],
    "sergeant.logging.logstash": [
        "BaseLogstashHandler",
        "BufferedLogstashHandler",
        "LogstashHandler",
    ],
    "sergeant.objects": ["Task"],
    "sergeant.slave": ["ReturnCode", "kill_running_background_threads", "work"],
    "sergeant.supervisor": ["SupervisedWorker", "Supervisor", "main"],
    "sergeant.worker": [
        "Worker",
        "WorkerException",
        "WorkerInterrupt",
        "WorkerMaxRetries",
        "WorkerRequeue",
        "WorkerRespawn",
        "WorkerRetry",
        "WorkerStop",
        "WorkerTimedout",
    ],
}


def _module(name):
    try:
        module = importlib.import_module(name)
    except ImportError:
        return {"imports": False}
    missing = [attribute for attribute in MODULES[name] if not hasattr(module, attribute)]
    return {"imports": True, "missing": missing}


# One behaviour per module, written out so the test list can be read from this file.
@behaviour("local")
def module_sergeant(ctx):
    return _module("sergeant")


@behaviour("local")
def module_sergeant_broker(ctx):
    return _module("sergeant.broker")


@behaviour("local")
def module_sergeant_config(ctx):
    return _module("sergeant.config")


@behaviour("local")
def module_sergeant_connector(ctx):
    return _module("sergeant.connector")


@behaviour("local")
def module_sergeant_connector_local(ctx):
    return _module("sergeant.connector.local")


@behaviour("local")
def module_sergeant_connector_mongo(ctx):
    return _module("sergeant.connector.mongo")


@behaviour("local")
def module_sergeant_connector_redis(ctx):
    return _module("sergeant.connector.redis")


@behaviour("local")
def module_sergeant_encoder(ctx):
    return _module("sergeant.encoder")


@behaviour("local")
def module_sergeant_encoder_compressor(ctx):
    return {name: _module(name) for name in MODULES if name.startswith("sergeant.encoder.compr")}


@behaviour("local")
def module_sergeant_encoder_encoder(ctx):
    return _module("sergeant.encoder.encoder")


@behaviour("local")
def module_sergeant_encoder_serializer(ctx):
    return {name: _module(name) for name in MODULES if name.startswith("sergeant.encoder.seria")}


@behaviour("local")
def module_sergeant_executor(ctx):
    return _module("sergeant.executor")


@behaviour("local")
def module_sergeant_executor_serial(ctx):
    return _module("sergeant.executor.serial")


@behaviour("local")
def module_sergeant_executor_threaded(ctx):
    return _module("sergeant.executor.threaded")


@behaviour("local")
def module_sergeant_killer(ctx):
    return _module("sergeant.killer")


@behaviour("local")
def module_sergeant_killer_process(ctx):
    return _module("sergeant.killer.process")


@behaviour("local")
def module_sergeant_killer_thread(ctx):
    return _module("sergeant.killer.thread")


@behaviour("local")
def module_sergeant_logging(ctx):
    return {name: _module(name) for name in ("sergeant.logging", "sergeant.logging.logstash")}


@behaviour("local")
def module_sergeant_objects(ctx):
    return _module("sergeant.objects")


@behaviour("local")
def module_sergeant_slave(ctx):
    return _module("sergeant.slave")


@behaviour("local")
def module_sergeant_supervisor(ctx):
    return _module("sergeant.supervisor")


@behaviour("local")
def module_sergeant_worker(ctx):
    return _module("sergeant.worker")


@behaviour("local")
def worker_exception_hierarchy(ctx):
    worker = sergeant.worker
    names = [
        "WorkerTimedout",
        "WorkerRequeue",
        "WorkerRetry",
        "WorkerMaxRetries",
        "WorkerInterrupt",
        "WorkerRespawn",
        "WorkerStop",
    ]
    return {
        "base_is_base_exception": issubclass(worker.WorkerException, BaseException)
        and not issubclass(worker.WorkerException, Exception),
        "parents": {name: getattr(worker, name).__mro__[1].__name__ for name in names},
    }


@behaviour("local")
def task_is_a_dataclass(ctx):
    import dataclasses

    task = sergeant.objects.Task()
    return {
        "fields": [field.name for field in dataclasses.fields(sergeant.objects.Task)],
        "defaults": [task.kwargs, task.trace_id, type(task.date).__name__, task.run_count],
        "asdict": sorted(dataclasses.asdict(task)),
    }


@behaviour("local")
def config_classes_are_dataclasses(ctx):
    import dataclasses

    classes = ["Connector", "Encoder", "Logging", "LoggingEvents", "Starvation", "Timeouts"]
    classes.append("WorkerConfig")
    return {name: dataclasses.is_dataclass(getattr(sergeant.config, name)) for name in classes}


@behaviour("local")
def connector_config_fields(ctx):
    connector = sergeant.config.Connector(params={"file_path": "/tmp/x.sqlite3"})
    positional = sergeant.config.Connector({"file_path": "/tmp/x.sqlite3"}, "local")
    return {
        "type": connector.type,
        "params": dict(connector.params),
        "positional_same": positional == connector,
    }


if __name__ == "__main__":
    main()
