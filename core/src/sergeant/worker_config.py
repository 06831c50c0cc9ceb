"""Worker configuration, field for field as in Sergeant's ``WorkerConfig``.

Everything is a frozen attrs class validated at construction, so a wrong value
fails when the worker is built with :class:`~sergeant.errors.ConfigError`
naming the field. Beyond Sergeant: ``delivery`` (``'at_least_once'`` by default,
or Sergeant's destructive ``'at_most_once'``), ``max_deliveries`` and
``lease_seconds``, ``prefetch_under`` and ``max_payload_bytes``.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import attrs

from sergeant._connector_config import Connector
from sergeant.encoder import COMPRESSORS, DEFAULT_MAX_PAYLOAD_BYTES, SERIALIZERS
from sergeant.errors import ConfigError
from sergeant.validation import MAX_SECONDS, check_positive, check_unicode, instance_of

__all__ = [
    "MAX_THREADS",
    "MIN_LEASE_SECONDS",
    "Encoder",
    "Logging",
    "LoggingEvents",
    "Starvation",
    "Timeouts",
    "WorkerConfig",
    "default_connector",
]


def _whole(low: int, what: str, high: int | None = None) -> Any:
    def check(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        field = f"{what}.{attribute.name}"
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(field, value, f"expected a whole number of at least {low}")
        if high is not None and value > high:
            raise ConfigError(field, value, f"expected at most {high:,}")

    return check


#: The most threads a worker runs tasks on (each is an OS thread).
MAX_THREADS = 10_000


#: The shortest ``lease_seconds`` a worker takes.
MIN_LEASE_SECONDS = 0.1


def _seconds(allow_zero: bool, what: str) -> Any:
    def check(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        field = f"{what}.{attribute.name}"
        if allow_zero and value == 0 and not isinstance(value, bool):
            return
        check_positive(field, value)

    return check


def _flag(what: str) -> Any:
    def check(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, bool):
            raise ConfigError(f"{what}.{attribute.name}", value, "expected True or False")

    return check


def _handlers(_inst: object, _attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, list | tuple):
        raise ConfigError(
            "Logging.handlers", type(value).__name__, "pass a list of logging.Handler objects"
        )
    for index, handler in enumerate(value):
        if not isinstance(handler, logging.Handler):
            raise ConfigError(
                f"Logging.handlers[{index}]", type(handler).__name__, "expected a logging.Handler"
            )


@attrs.frozen
class LoggingEvents:
    """Which handler events the worker logs (Sergeant's defaults)."""

    on_success: bool = attrs.field(default=False, validator=_flag("LoggingEvents"))
    on_failure: bool = attrs.field(default=True, validator=_flag("LoggingEvents"))
    on_timeout: bool = attrs.field(default=True, validator=_flag("LoggingEvents"))
    on_retry: bool = attrs.field(default=True, validator=_flag("LoggingEvents"))
    on_max_retries: bool = attrs.field(default=True, validator=_flag("LoggingEvents"))
    on_requeue: bool = attrs.field(default=True, validator=_flag("LoggingEvents"))
    on_starvation: bool = attrs.field(default=True, validator=_flag("LoggingEvents"))
    on_stop: bool = attrs.field(default=True, validator=_flag("LoggingEvents"))


@attrs.frozen
class Logging:
    """The worker's logger: level, events to log, and extra handlers.

    :param log_to_stdout: also print records to standard output.
    """

    level: int = attrs.field(default=logging.ERROR, validator=instance_of(int, what="level"))
    log_to_stdout: bool = attrs.field(default=False, validator=_flag("Logging"))
    events: LoggingEvents = attrs.field(
        factory=LoggingEvents, validator=instance_of(LoggingEvents, what="Logging.events")
    )
    handlers: list[logging.Handler] = attrs.field(factory=list, validator=_handlers)


@attrs.frozen
class Encoder:
    """How tasks become bytes.

    :param serializer: ``'msgpack'`` (default), ``'json'``, or ``'pickle'``. Pickle is
        never the default: unpickling runs code chosen by whoever wrote the payload,
        so anyone able to push to the queue could run code in your workers. Choose it
        only when every producer is trusted.
    :param compressor: ``'zlib'``, ``'gzip'``, ``'bzip2'``, ``'lzma'`` or None.
    """

    compressor: str | None = attrs.field(default=None)
    serializer: str = attrs.field(default="msgpack")

    @compressor.validator
    def _check_compressor(self, _attribute: Any, value: Any) -> None:
        if value is not None and (not isinstance(value, str) or value not in COMPRESSORS):
            raise ConfigError(
                "Encoder.compressor", value, "use 'zlib', 'gzip', 'bzip2', 'lzma' or None"
            )

    @serializer.validator
    def _check_serializer(self, _attribute: Any, value: Any) -> None:
        if not isinstance(value, str) or value not in SERIALIZERS:
            raise ConfigError(
                "Encoder.serializer", value, "use 'msgpack', 'json' or (trusted) 'pickle'"
            )


@attrs.frozen
class Timeouts:
    """``timeout``: seconds a task may run (0: no limit); past it, ``on_timeout`` runs.
    ``grace_period``: seconds more before the process is killed and replaced."""

    timeout: float = attrs.field(default=0.0, validator=_seconds(True, "Timeouts"))
    grace_period: float = attrs.field(default=10.0, validator=_seconds(True, "Timeouts"))


@attrs.frozen
class Starvation:
    """``on_starvation`` runs once the queue has been empty this many seconds."""

    time_with_no_tasks: int = attrs.field(validator=_whole(1, "Starvation", MAX_SECONDS))


def default_connector() -> Connector:
    """The ``local`` backend on its default SQLite file (the CLI's default too)."""
    return Connector(type="local", params={})


@attrs.frozen
class WorkerConfig:
    """Everything a worker needs; ``name`` is also the queue it consumes.

    :param max_tasks_per_run: the process exits (and is replaced) after this many
        tasks; 0 runs forever.
    :param max_retries: ``retry`` past this many runs calls ``on_max_retries`` and
        dead-letters the task; 0 retries without limit.
    :param tasks_per_transaction: tasks reserved (or popped) per round trip.
    :param number_of_threads: tasks worked at once in the process (at most
        :data:`MAX_THREADS`).
    :param delivery: ``'at_least_once'`` (reserve, work, ack; a crash hands the task
        out again) or ``'at_most_once'`` (Sergeant's destructive pop).
    :param max_deliveries: a task handed out more times than this (its workers kept
        dying) goes to the dead-letter queue instead of running again. Redelivered
        tasks run one at a time and the one a worker died on runs after the rest
        of its batch, so a neighbour comes back at most twice with a task that
        kills its process: at 3 or more (default 5) only the killer is dead-lettered.
    :param lease_seconds: how long a reserved task stays invisible to other workers
        before it is handed out again; renewed while the task runs. At least
        :data:`MIN_LEASE_SECONDS` (0.1 s).
    :param prefetch_under: at-least-once on one thread, on a backend that acks
        and reserves in one call, when the last batch took less than this many
        seconds, the next batch is reserved before the current one runs (its lease
        renewed meanwhile; on Redis the round trip and server time overlap with
        work); quick batches are reserved several to a call
        (up to 2; up to 8 while they hold 16 tasks or fewer and run in under
        50 ms together), run one by one. Slower batches are never prefetched, so a
        long task never holds another batch back from other workers. 0 turns it off.
    :param max_payload_bytes: the largest task payload decoded, before and after
        decompression (64 MiB by default); a larger one, such as a decompression
        bomb, goes to the dead-letter queue with the reason, unexpanded.
    """

    name: str = attrs.field()
    connector: Connector = attrs.field(factory=default_connector)
    max_tasks_per_run: int = attrs.field(default=0, validator=_whole(0, "WorkerConfig"))
    max_retries: int = attrs.field(default=0, validator=_whole(0, "WorkerConfig"))
    tasks_per_transaction: int = attrs.field(default=1, validator=_whole(1, "WorkerConfig"))
    number_of_threads: int = attrs.field(
        default=1, validator=_whole(1, "WorkerConfig", MAX_THREADS)
    )
    encoder: Encoder = attrs.field(factory=Encoder)
    timeouts: Timeouts = attrs.field(factory=Timeouts)
    logging: Logging = attrs.field(factory=Logging)
    starvation: Starvation | None = None
    delivery: Literal["at_least_once", "at_most_once"] = attrs.field(default="at_least_once")
    max_deliveries: int = attrs.field(default=5, validator=_whole(1, "WorkerConfig"))
    lease_seconds: float = attrs.field(default=30.0, validator=_seconds(False, "WorkerConfig"))

    @lease_seconds.validator
    def _check_lease(self, _attribute: Any, value: float) -> None:
        if value < MIN_LEASE_SECONDS:
            raise ConfigError(
                "WorkerConfig.lease_seconds",
                value,
                f"use at least {MIN_LEASE_SECONDS} s: a shorter lease runs out before the "
                "worker can renew it, and its tasks would be handed out again while they run",
            )

    prefetch_under: float = attrs.field(default=0.5, validator=_seconds(True, "WorkerConfig"))
    max_payload_bytes: int = attrs.field(
        default=DEFAULT_MAX_PAYLOAD_BYTES, validator=_whole(1, "WorkerConfig")
    )

    @name.validator
    def _check_name(self, _attribute: Any, value: Any) -> None:
        if not isinstance(value, str) or not value or "\x00" in value:
            raise ConfigError(
                "WorkerConfig.name", value, "expected a non-empty string (the queue name)"
            )
        check_unicode(value, "WorkerConfig.name")

    @connector.validator
    def _check_connector(self, _attribute: Any, value: Any) -> None:
        if not isinstance(value, Connector):
            raise ConfigError(
                "WorkerConfig.connector",
                type(value).__name__,
                "pass sergeant.config.Connector(type=..., params=...)",
            )

    @delivery.validator
    def _check_delivery(self, _attribute: Any, value: Any) -> None:
        if value not in ("at_least_once", "at_most_once"):
            raise ConfigError(
                "WorkerConfig.delivery", value, "use 'at_least_once' or 'at_most_once'"
            )

    def __attrs_post_init__(self) -> None:
        for field, cls in (
            ("encoder", Encoder),
            ("timeouts", Timeouts),
            ("logging", Logging),
        ):
            if not isinstance(getattr(self, field), cls):
                raise ConfigError(
                    f"WorkerConfig.{field}",
                    type(getattr(self, field)).__name__,
                    f"pass sergeant.config.{cls.__name__}(...)",
                )
        if self.starvation is not None and not isinstance(self.starvation, Starvation):
            raise ConfigError(
                "WorkerConfig.starvation",
                type(self.starvation).__name__,
                "pass sergeant.config.Starvation(time_with_no_tasks=...) or None",
            )

    def replace(self, **changes: Any) -> WorkerConfig:
        """A copy with ``changes`` applied (Sergeant's ``WorkerConfig.replace``)."""
        return attrs.evolve(self, **changes)
