"""Every way ours deliberately differs from Sergeant 0.27.0, behaviour by behaviour.

Each :class:`Difference` says exactly what Sergeant 0.27.0 returns and what ours
returns for one behaviour of ``scenarios/`` on the backends it names; the
comparison asserts both, so a difference can neither be skipped nor drift. Each
belongs to a :class:`Topic`, a section of docs/coming-from-sergeant.md (the
page test checks that every topic and its restoring setting are there). A topic
whose setting restores Sergeant's behaviour carries it as ``WorkerConfig``
fields too, and a third run (ours with those fields) must return exactly what
Sergeant returned.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DIFFERENCES", "TOPICS", "Difference", "Topic", "expected_difference"]

LOCAL, REDIS, BOTH = ("local",), ("redis",), ("local", "redis")


@dataclass(frozen=True, eq=False)
class Topic:
    """One difference as docs/coming-from-sergeant.md lists it.

    :ivar title: the page's heading for it, verbatim.
    :ivar restore: the one-line setting that restores Sergeant's behaviour, verbatim
        on the page, or None when there is none.
    :ivar restore_fields: that setting as ``WorkerConfig`` fields (JSON values;
        ``connector``/``encoder`` as their classes' keyword arguments), when the
        scenarios can prove it.
    """

    title: str
    restore: str | None = None
    restore_fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Difference:
    """What each implementation returns for one behaviour on ``backends``."""

    behaviour: str
    backends: tuple[str, ...]
    topic: Topic
    original: Any
    ours: Any


MSGPACK = Topic(
    "msgpack is the default serializer",
    restore="encoder=sergeant.config.Encoder(serializer='pickle')",
    restore_fields={"encoder": {"serializer": "pickle"}},
)
AT_LEAST_ONCE = Topic(
    "At-least-once delivery is the default",
    restore="delivery='at_most_once'",
    restore_fields={"delivery": "at_most_once"},
)
DEFAULT_FILE = Topic(
    "The default local file",
    restore="connector=sergeant.config.Connector(type='local', params={'file_path':"
    " f'{tempfile.gettempdir()}/sergeant_default_db.sqlite3'})",
    restore_fields={
        "connector": {
            "type": "local",
            "params": {"file_path": f"{tempfile.gettempdir()}/sergeant_default_db.sqlite3"},
        }
    },
)
OWNED_LOCKS = Topic("Locks are owner-checked")
EXPIRED_LOCKS = Topic("An expired lock can be taken on every backend")
HIGH_FIFO = Topic("HIGH priority is first in, first out")
DUE_DELAYED = Topic("Due delayed tasks keep their priority and their ready time")
PUSH_RETURNS = Topic("Pushes return True")
DEAD_LETTERS = Topic("A task past max_retries goes to the dead-letter queue")
ON_STOP = Topic("on_stop runs when work calls stop()")
SIGTERM = Topic("SIGTERM lets the running task finish")
SIGNALS_AT_CONSTRUCTION = Topic("Constructing a worker installs no signal handler")
SUMMARY = Topic("work_loop's summary: aware UTC times, and counters")
VALIDATED = Topic("Config values are checked at construction")
ATTRS = Topic("Config classes are attrs classes, not dataclasses")
ERRORS = Topic("Encoder errors are sergeant.errors classes")
JSON = Topic("A json serializer")
MSGPACK_EXT = Topic("msgpack: tasks, tuples and datetimes in a form of our own")
LOGSTASH = Topic("Logstash failures are reported once, on stderr")
SUPERVISOR_EXIT = Topic("The supervisor exits 1 when it cannot load the worker")
TASK_SYS_EXIT = Topic("A task's sys.exit() ends only its process")
SECOND_RETRY = Topic("A second retry of one run is refused")
NOT_PROVIDED = Topic("Modules and names not provided")

_SUMMARY_OK_STOP = {
    "executor": ["cpu_utilization", "total_cpu_time", "total_wall_time"],
    "executor_exception": None,
    "finalize_exception": None,
    "initialize_exception": None,
    "respawn": False,
    "stop": True,
}
_SUMMARY_KEYS = [
    "end_time",
    "executor",
    "executor_exception",
    "finalize_exception",
    "initialize_exception",
    "respawn",
    "start_time",
    "stop",
]


def _module(missing: list[str] | None) -> dict[str, Any]:
    return {"imports": False} if missing is None else {"imports": True, "missing": missing}


DIFFERENCES: list[Difference] = [
    # Delivery and encoding defaults ---------------------------------------
    Difference(
        "worker.worker_config_default_encoder",
        LOCAL,
        MSGPACK,
        {"compressor": None, "serializer": "pickle"},
        {"compressor": None, "serializer": "msgpack"},
    ),
    Difference(
        "delivery.stored_task_is_a_pickled_task",
        BOTH,
        MSGPACK,
        {"kwargs": {"n": 1}, "pickled": True, "trace_id": "t"},
        {"pickled": False},
    ),
    Difference(
        "delivery.task_of_a_worker_that_died",
        BOTH,
        AT_LEAST_ONCE,
        {"came_back": [], "worker_exit_code": 3},
        {"came_back": [{"n": 1}], "worker_exit_code": 3},
    ),
    Difference(
        "worker.default_connector",
        LOCAL,
        DEFAULT_FILE,
        {
            "params": {"file_path": f"{tempfile.gettempdir()}/sergeant_default_db.sqlite3"},
            "type": "local",
        },
        {"params": {}, "type": "local"},
    ),
    # Locks ------------------------------------------------------------------
    Difference(
        "locks.set_ttl_by_another_lock_object",
        BOTH,
        OWNED_LOCKS,
        {"holder_ttl_about_120": True, "other_set": True},
        {"holder_ttl_about_120": False, "other_set": False},
    ),
    Difference(
        "locks.expired_holder_releases_after_someone_else_acquired",
        REDIS,
        OWNED_LOCKS,
        {"first_released": True, "second_acquired": True, "still_locked": False},
        {"first_released": False, "second_acquired": True, "still_locked": True},
    ),
    Difference(
        "locks.expired_holder_releases_after_someone_else_acquired",
        LOCAL,
        EXPIRED_LOCKS,
        {"first_released": False, "second_acquired": False, "still_locked": False},
        {"first_released": False, "second_acquired": True, "still_locked": True},
    ),
    Difference("locks.acquire_after_the_holder_expired", LOCAL, EXPIRED_LOCKS, False, True),
    # Order ------------------------------------------------------------------
    Difference(
        "connector.high_priority_order_among_high",
        REDIS,
        HIGH_FIFO,
        ["h3", "h2", "h1", "a"],
        ["h1", "h2", "h3", "a"],
    ),
    Difference(
        "connector.high_priority_in_bulk_pops",
        REDIS,
        HIGH_FIFO,
        ["h2", "h1", "a", "b"],
        ["h1", "h2", "a", "b"],
    ),
    Difference(
        "connector.high_priority_in_bulk_pops",
        LOCAL,
        HIGH_FIFO,
        ["a", "b", "h1", "h2"],
        ["h1", "h2", "a", "b"],
    ),
    Difference(
        "worker.push_tasks_high_priority_order",
        REDIS,
        HIGH_FIFO,
        ["h2", "h1", "a"],
        ["h1", "h2", "a"],
    ),
    Difference(
        "connector.due_delayed_item_among_ready_items",
        LOCAL,
        DUE_DELAYED,
        ["a", "b", "due"],
        ["due", "a", "b"],
    ),
    Difference(
        "connector.due_delayed_item_among_ready_items",
        REDIS,
        DUE_DELAYED,
        ["a", "b", "due"],
        ["a", "due", "b"],
    ),
    Difference(
        "connector.due_delayed_items_among_themselves",
        LOCAL,
        DUE_DELAYED,
        ["due-second", "due-first"],
        ["due-first", "due-second"],
    ),
    Difference(
        "connector.due_delayed_items_among_themselves",
        REDIS,
        DUE_DELAYED,
        ["due-first", "due-second"],
        ["due-second", "due-first"],
    ),
    Difference(
        "connector.delayed_high_item_once_due",
        BOTH,
        DUE_DELAYED,
        ["a", "b", "delayed-high"],
        ["delayed-high", "a", "b"],
    ),
    # Return values ----------------------------------------------------------
    Difference("connector.queue_push_returns", LOCAL, PUSH_RETURNS, False, True),
    Difference("connector.queue_push_delayed_returns", LOCAL, PUSH_RETURNS, False, True),
    Difference(
        "broker.push_retry_and_requeue_return",
        LOCAL,
        PUSH_RETURNS,
        {"push_task": False, "requeue": False, "retry": False},
        {"push_task": True, "requeue": True, "retry": True},
    ),
    Difference(
        "worker.push_task_returns",
        LOCAL,
        PUSH_RETURNS,
        {"push_task": False, "push_tasks": True},
        {"push_task": True, "push_tasks": True},
    ),
    # The worker -------------------------------------------------------------
    Difference(
        "worker.max_retries_task_afterwards",
        BOTH,
        DEAD_LETTERS,
        {"dead_letter_queue": 0, "queue": 0},
        {"dead_letter_queue": 1, "queue": 0},
    ),
    Difference("worker.on_stop_when_work_calls_stop", BOTH, ON_STOP, [], ["on_stop"]),
    Difference(
        "worker.sigterm_while_a_task_runs",
        BOTH,
        SIGTERM,
        {
            "events": [
                ["initialize"],
                ["pre_work", {"n": 1}],
                ["work", {"n": 1}],
                ["post_work", {"n": 1}, False, "WorkerStop"],
                ["finalize"],
            ],
            "left": 2,
            "summary": _SUMMARY_OK_STOP,
        },
        {
            "events": [
                ["initialize"],
                ["pre_work", {"n": 1}],
                ["work", {"n": 1}],
                ["work went on", {"n": 1}],
                ["post_work", {"n": 1}, True, None],
                ["on_success", {"n": 1}, None],
                ["finalize"],
            ],
            "left": 1,
            "summary": {**_SUMMARY_OK_STOP, "stop": False},
        },
    ),
    Difference(
        "worker.constructing_a_worker_leaves_sigterm_alone",
        LOCAL,
        SIGNALS_AT_CONSTRUCTION,
        False,
        True,
    ),
    Difference(
        "worker.work_loop_summary_keys",
        BOTH,
        SUMMARY,
        _SUMMARY_KEYS,
        sorted([*_SUMMARY_KEYS, "counters"]),
    ),
    Difference(
        "worker.work_loop_summary_times",
        BOTH,
        SUMMARY,
        {
            "executor": ["cpu_utilization", "total_cpu_time", "total_wall_time"],
            "naive": [True, True],
            "ordered": True,
            "types": ["datetime", "datetime"],
        },
        {
            "executor": ["cpu_utilization", "total_cpu_time", "total_wall_time"],
            "naive": [False, False],
            "ordered": True,
            "types": ["datetime", "datetime"],
        },
    ),
    Difference(
        "supervisor.task_calling_sys_exit_3",
        LOCAL,
        TASK_SYS_EXIT,
        {"exit_code": 0, "left": 2, "ran": [{"exit": 3}]},
        {"exit_code": 0, "left": 0, "ran": [{"exit": 3}, {"n": 1}, {"n": 2}]},
    ),
    Difference(
        "worker.retry_again_from_on_retry",
        LOCAL,
        SECOND_RETRY,
        {
            "ended_by": "WorkerRetry",
            "events": [
                ["initialize"],
                ["pre_work", {"n": 1}],
                ["post_work", {"n": 1}, False, "WorkerRetry"],
                ["on_retry", 1],
            ],
            "queued": 2,
        },
        {
            "ended_by": None,
            "events": [
                ["initialize"],
                ["pre_work", {"n": 1}],
                ["post_work", {"n": 1}, False, "WorkerRetry"],
                ["on_retry", 1],
                ["finalize"],
            ],
            "queued": 1,
        },
    ),
    Difference(
        "supervisor.unknown_worker_module",
        LOCAL,
        SUPERVISOR_EXIT,
        {"exit_code": 0, "ran": []},
        {"exit_code": 1, "ran": []},
    ),
    Difference(
        "supervisor.unknown_worker_class",
        LOCAL,
        SUPERVISOR_EXIT,
        {"exit_code": 0, "ran": []},
        {"exit_code": 1, "ran": []},
    ),
    # Config -----------------------------------------------------------------
    Difference(
        "worker.config_values_are_not_checked_until_used",
        LOCAL,
        VALIDATED,
        {"constructed": True},
        {"raised": True},
    ),
    Difference(
        "surface.config_classes_are_dataclasses",
        LOCAL,
        ATTRS,
        dict.fromkeys(
            [
                "Connector",
                "Encoder",
                "Logging",
                "LoggingEvents",
                "Starvation",
                "Timeouts",
                "WorkerConfig",
            ],
            True,
        ),
        dict.fromkeys(
            [
                "Connector",
                "Encoder",
                "Logging",
                "LoggingEvents",
                "Starvation",
                "Timeouts",
                "WorkerConfig",
            ],
            False,
        ),
    ),
    # The encoder ------------------------------------------------------------
    Difference(
        "encoder.unknown_serializer_name",
        LOCAL,
        ERRORS,
        {"raised": ["KeyError", "LookupError", "Exception"]},
        {"raised": ["ValueError", "Exception"]},
    ),
    Difference(
        "encoder.unknown_compressor_name",
        LOCAL,
        ERRORS,
        {"raised": ["KeyError", "LookupError", "Exception"]},
        {"raised": ["ValueError", "Exception"]},
    ),
    Difference(
        "encoder.decode_garbage",
        LOCAL,
        ERRORS,
        {"msgpack": {"raised": ["ValueError", "Exception"]}, "pickle": {"raised": ["Exception"]}},
        {"msgpack": {"raised": ["Exception"]}, "pickle": {"raised": ["Exception"]}},
    ),
    Difference(
        "encoder.decompress_garbage",
        LOCAL,
        ERRORS,
        {
            "bzip2": {"raised": ["OSError", "Exception"]},
            "gzip": {"raised": ["OSError", "Exception"]},
            "lzma": {"raised": ["Exception"]},
            "zlib": {"raised": ["Exception"]},
        },
        {
            "bzip2": {"raised": ["Exception"]},
            "gzip": {"raised": ["Exception"]},
            "lzma": {"raised": ["Exception"]},
            "zlib": {"raised": ["Exception"]},
        },
    ),
    Difference(
        "encoder.json_serializer",
        LOCAL,
        JSON,
        {"raised": ["KeyError", "LookupError", "Exception"]},
        {"round_trip": "{'a': [1, 'b']}"},
    ),
    Difference(
        "encoder.serializer_and_compressor_objects",
        LOCAL,
        JSON,
        {
            "compressor_name": "zlib",
            "compressors": ["bzip2", "gzip", "lzma", "zlib"],
            "no_compressor": None,
            "serializer_name": "msgpack",
            "serializers": ["msgpack", "pickle"],
        },
        {
            "compressor_name": "zlib",
            "compressors": ["bzip2", "gzip", "lzma", "zlib"],
            "no_compressor": None,
            "serializer_name": "msgpack",
            "serializers": ["json", "msgpack", "pickle"],
        },
    ),
    Difference(
        "delivery.stored_msgpack_task_is_sergeants_map",
        BOTH,
        MSGPACK_EXT,
        {"fields": ["date", "kwargs", "run_count", "trace_id"], "form": "map", "kwargs": {"n": 1}},
        {"form": "list"},
    ),
    Difference(
        "encoder.tuples_encoded_bytes_msgpack",
        LOCAL,
        MSGPACK_EXT,
        "gaRwYWlygalfX3R1cGxlX1+SAaN0d28=",
        "gaRwYWlyxwYBkgGjdHdv",
    ),
    Difference(
        "encoder.aware_datetime_round_trip_msgpack",
        LOCAL,
        MSGPACK_EXT,
        {"equal": None, "tzinfo": "None"},
        {"equal": True, "tzinfo": "datetime.timezone.utc"},
    ),
    # Logging ----------------------------------------------------------------
    Difference(
        "logging.logstash_handler_without_a_server",
        LOCAL,
        LOGSTASH,
        {"stderr": 0, "stdout": 3},
        {"stderr": 1, "stdout": 0},
    ),
    # Not provided -----------------------------------------------------------
    Difference(
        "surface.module_sergeant_connector_local",
        LOCAL,
        NOT_PROVIDED,
        _module([]),
        _module(["Lock"]),
    ),
    Difference(
        "surface.module_sergeant_connector_mongo",
        LOCAL,
        NOT_PROVIDED,
        _module([]),
        _module(["Lock"]),
    ),
    Difference(
        "surface.module_sergeant_connector_redis",
        LOCAL,
        NOT_PROVIDED,
        _module([]),
        _module(["Lock", "QueueRedis"]),
    ),
    Difference(
        "surface.module_sergeant_executor",
        LOCAL,
        NOT_PROVIDED,
        _module([]),
        _module(["serial", "threaded"]),
    ),
    Difference(
        "surface.module_sergeant_executor_serial", LOCAL, NOT_PROVIDED, _module([]), _module(None)
    ),
    Difference(
        "surface.module_sergeant_executor_threaded", LOCAL, NOT_PROVIDED, _module([]), _module(None)
    ),
    Difference(
        "surface.module_sergeant_killer",
        LOCAL,
        NOT_PROVIDED,
        _module([]),
        _module(["process", "thread"]),
    ),
    Difference(
        "surface.module_sergeant_killer_process", LOCAL, NOT_PROVIDED, _module([]), _module(None)
    ),
    Difference(
        "surface.module_sergeant_killer_thread", LOCAL, NOT_PROVIDED, _module([]), _module(None)
    ),
    Difference(
        "surface.module_sergeant_logging",
        LOCAL,
        NOT_PROVIDED,
        {"sergeant.logging": _module([]), "sergeant.logging.logstash": _module([])},
        {
            "sergeant.logging": _module([]),
            "sergeant.logging.logstash": _module(["BaseLogstashHandler"]),
        },
    ),
    Difference("surface.module_sergeant_slave", LOCAL, NOT_PROVIDED, _module([]), _module(None)),
    Difference(
        "surface.module_sergeant_supervisor",
        LOCAL,
        NOT_PROVIDED,
        _module([]),
        _module(["SupervisedWorker"]),
    ),
]

TOPICS: list[Topic] = list(dict.fromkeys(difference.topic for difference in DIFFERENCES))


def _index() -> dict[tuple[str, str], Difference]:
    index: dict[tuple[str, str], Difference] = {}
    for difference in DIFFERENCES:
        for backend in difference.backends:
            key = (difference.behaviour, backend)
            if key in index:
                raise ValueError(f"two differences for {key}")
            index[key] = difference
    return index


_BY_BEHAVIOUR = _index()


def expected_difference(behaviour: str, backend: str) -> Difference | None:
    """The documented difference of ``behaviour`` on ``backend``, if it has one."""
    return _BY_BEHAVIOUR.get((behaviour, backend))
