"""Each handler, action and config field of the Worker, in process, on every backend."""

from __future__ import annotations

import gc
import io
import json
import logging
import threading
import time
import zlib
from typing import Any

import pytest
import sergeant
from sergeant.broker import dead_queue_name
from sergeant.config import (
    Connector,
    Encoder,
    Logging,
    LoggingEvents,
    Starvation,
    Timeouts,
    WorkerConfig,
)
from sergeant.connector import ACK_AND_RESERVE, PREFETCH
from sergeant.errors import StorageError
from sergeant.testing import wait_until


class Recording(sergeant.Worker):
    """Records every hook call in ``self.events``; ``behaviour`` decides what work does."""

    settings: dict[str, Any] = {}

    def generate_config(self) -> WorkerConfig:
        return WorkerConfig(**self.settings)

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[Any, ...]] = []

    def behaviour(self, task: sergeant.Task) -> Any:
        return task.kwargs.get("n")

    def initialize(self) -> None:
        self.events.append(("initialize",))

    def finalize(self) -> None:
        self.events.append(("finalize",))

    def pre_work(self, task: sergeant.Task) -> None:
        self.events.append(("pre_work", task.kwargs.get("n")))

    def post_work(
        self, task: sergeant.Task, success: bool, exception: BaseException | None
    ) -> None:
        self.events.append(("post_work", task.kwargs.get("n"), success, type(exception).__name__))

    def work(self, task: sergeant.Task) -> Any:
        return self.behaviour(task)

    def on_success(self, task: sergeant.Task, returned_value: Any) -> None:
        self.events.append(("on_success", task.kwargs.get("n"), returned_value))

    def on_failure(self, task: sergeant.Task, exception: Exception) -> None:
        self.events.append(("on_failure", task.kwargs.get("n"), str(exception)))

    def on_timeout(self, task: sergeant.Task) -> None:
        self.events.append(("on_timeout", task.kwargs.get("n")))

    def on_retry(self, task: sergeant.Task) -> None:
        self.events.append(("on_retry", task.kwargs.get("n"), task.run_count))

    def on_max_retries(self, task: sergeant.Task) -> None:
        self.events.append(("on_max_retries", task.kwargs.get("n"), task.run_count))

    def on_requeue(self, task: sergeant.Task) -> None:
        self.events.append(("on_requeue", task.kwargs.get("n"), task.run_count))

    def on_starvation(self, time_with_no_tasks: int) -> None:
        self.events.append(("on_starvation", time_with_no_tasks))
        self.stop()

    def on_stop(self, task: sergeant.Task) -> None:
        self.events.append(("on_stop", task.kwargs.get("n")))

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [e for e in self.events if e[0] == name]


def make(
    connector_config: Connector, queue: str, behaviour: Any = None, **settings: Any
) -> Recording:
    attrs: dict[str, Any] = {"settings": {"name": queue, "connector": connector_config, **settings}}
    if behaviour is not None:
        attrs["behaviour"] = behaviour
    worker = type("Configured", (Recording,), attrs)()
    worker.init_worker()
    return worker


@pytest.fixture
def build(connector_config: Connector, queue_name: str):  # type: ignore[no-untyped-def]
    made: list[Recording] = []

    def factory(behaviour: Any = None, **settings: Any) -> Recording:
        worker = make(connector_config, queue_name, behaviour, **settings)
        made.append(worker)
        return worker

    yield factory
    for worker in made:
        worker.close()


def in_flight(worker: sergeant.Worker) -> int:
    return sum(n.in_flight for n in worker.broker.stats(worker.config.name))


def test_success_runs_every_hook_in_order_and_acks(build: Any) -> None:
    worker = build(max_tasks_per_run=2)
    worker.push_tasks(kwargs_list=[{"n": 1}, {"n": 2}])
    summary = worker.work_loop()
    assert summary["stop"] is False
    assert summary["executor_exception"] is None
    assert worker.events == [
        ("initialize",),
        ("pre_work", 1),
        ("post_work", 1, True, "NoneType"),
        ("on_success", 1, 1),
        ("pre_work", 2),
        ("post_work", 2, True, "NoneType"),
        ("on_success", 2, 2),
        ("finalize",),
    ]
    assert worker.number_of_enqueued_tasks(include_delayed=True) == 0
    assert in_flight(worker) == 0
    assert summary["counters"].done == 2


class Plain(sergeant.Worker):
    """Only ``work``: every hook and handler is the base class's."""

    settings: dict[str, Any] = {}

    def generate_config(self) -> WorkerConfig:
        return WorkerConfig(**self.settings)

    def work(self, task: sergeant.Task) -> int:
        return int(task.kwargs["n"])


def test_a_worker_with_only_work_acks_and_hooks_set_on_the_instance_still_run(
    connector_config: Connector, queue_name: str
) -> None:
    settings = {"name": queue_name, "connector": connector_config, "max_tasks_per_run": 3}
    worker = type("PlainConfigured", (Plain,), {"settings": settings})()
    worker.init_worker()
    try:
        worker.push_tasks(kwargs_list=[{"n": n} for n in range(6)])
        assert worker.work_loop()["counters"].done == 3
        assert worker.number_of_enqueued_tasks() == 3
        seen: list[tuple[Any, ...]] = []
        worker.pre_work = lambda task: seen.append(("pre", task.kwargs["n"]))  # type: ignore[method-assign]
        worker.post_work = lambda task, success, exception: seen.append(  # type: ignore[method-assign]
            ("post", task.kwargs["n"], success)
        )
        worker.on_success = lambda task, returned_value: seen.append(("success", returned_value))  # type: ignore[method-assign]
        worker.work_loop()
        assert seen == [
            event for n in (3, 4, 5) for event in (("pre", n), ("post", n, True), ("success", n))
        ]
        assert worker.number_of_enqueued_tasks(include_delayed=True) == 0
        assert in_flight(worker) == 0
    finally:
        worker.close()


def test_failure_calls_on_failure_with_the_exception(build: Any) -> None:
    def boom(self: Recording, task: sergeant.Task) -> None:
        raise ValueError(f"bad {task.kwargs['n']}")

    worker = build(boom, max_tasks_per_run=1)
    worker.push_task(kwargs={"n": 7})
    worker.work_loop()
    assert worker.named("on_failure") == [("on_failure", 7, "bad 7")]
    assert worker.named("post_work") == [("post_work", 7, False, "ValueError")]
    assert in_flight(worker) == 0
    assert worker.number_of_enqueued_tasks() == 0


def test_retry_counts_runs_then_max_retries_dead_letters(build: Any) -> None:
    def always_retry(self: Recording, task: sergeant.Task) -> None:
        self.retry(task)

    worker = build(always_retry, max_retries=2, max_tasks_per_run=3)
    worker.push_task(kwargs={"n": 1})
    worker.work_loop()
    assert worker.named("on_retry") == [("on_retry", 1, 1), ("on_retry", 1, 2)]
    assert worker.named("on_max_retries") == [("on_max_retries", 1, 2)]
    (dead,) = worker.broker.dead_letters(worker.config.name)
    assert "max_retries (2) exceeded" in dead.reason
    assert worker.broker.encoder.decode_task(dead.payload).kwargs == {"n": 1}
    assert worker.number_of_enqueued_tasks() == 0
    assert in_flight(worker) == 0


def test_retry_from_on_failure_with_delay(build: Any) -> None:
    class Failing(Recording):
        def work(self, task: sergeant.Task) -> None:
            raise RuntimeError("later")

        def on_failure(self, task: sergeant.Task, exception: Exception) -> None:
            self.retry(task, consumable_from=time.time() + 3600)

    worker = build(max_tasks_per_run=1)
    worker.__class__ = type("F", (Failing, worker.__class__), {})
    worker.push_task(kwargs={"n": 1})
    worker.work_loop()
    assert worker.named("on_retry") == [("on_retry", 1, 1)]
    assert worker.number_of_enqueued_tasks() == 0
    assert worker.number_of_enqueued_tasks(include_delayed=True) == 1


def test_a_retry_that_cannot_be_stored_keeps_the_task(build: Any) -> None:
    def always_retry(self: Recording, task: sergeant.Task) -> None:
        self.retry(task)

    worker = build(always_retry, max_tasks_per_run=1)
    worker.push_task(kwargs={"n": 1})

    def unavailable(*args: Any, **kwargs: Any) -> bool:
        raise StorageError("storage refused the push")

    worker.broker.push_task = unavailable  # type: ignore[method-assign]
    worker.work_loop()
    assert worker.named("on_retry") == []
    assert in_flight(worker) == 0
    (task,) = worker.get_next_tasks(number_of_tasks=2)
    assert task.kwargs == {"n": 1}
    assert task.run_count == 0  # released unchanged


def test_requeue_puts_the_task_back_unchanged(build: Any) -> None:
    def requeue_once(self: Recording, task: sergeant.Task) -> str:
        if not self.named("on_requeue"):
            self.requeue(task)
        return "second time"

    worker = build(requeue_once, max_tasks_per_run=2)
    worker.push_task(kwargs={"n": 3})
    worker.work_loop()
    assert worker.named("on_requeue") == [("on_requeue", 3, 0)]
    assert worker.named("on_success") == [("on_success", 3, "second time")]


def test_timeout_interrupts_a_blocking_task(build: Any) -> None:
    def slow(self: Recording, task: sergeant.Task) -> None:
        time.sleep(60)

    worker = build(slow, max_tasks_per_run=1, timeouts=Timeouts(timeout=0.3))
    worker.push_task(kwargs={"n": 1})
    worker.work_loop()
    assert worker.named("on_timeout") == [("on_timeout", 1)]
    assert worker.named("post_work") == [("post_work", 1, False, "WorkerTimedout")]
    assert in_flight(worker) == 0


def test_timeout_interrupts_work_on_threads(build: Any) -> None:
    def busy(self: Recording, task: sergeant.Task) -> None:
        for _ in range(6000):
            time.sleep(0.01)

    worker = build(busy, max_tasks_per_run=2, number_of_threads=2, timeouts=Timeouts(timeout=0.3))
    worker.push_tasks(kwargs_list=[{"n": 1}, {"n": 2}])
    worker.work_loop()
    assert sorted(worker.named("on_timeout")) == [("on_timeout", 1), ("on_timeout", 2)]


def test_threads_work_tasks_at_the_same_time(build: Any) -> None:
    barrier = threading.Barrier(4, timeout=20)

    def meet(self: Recording, task: sergeant.Task) -> int:
        return barrier.wait()

    worker = build(meet, max_tasks_per_run=4, number_of_threads=4, tasks_per_transaction=4)
    worker.push_tasks(kwargs_list=[{"n": i} for i in range(4)])
    worker.work_loop()
    assert sorted(e[2] for e in worker.named("on_success")) == [0, 1, 2, 3]


def prefetches(worker: sergeant.Worker) -> bool:
    """Whether the worker reserves ahead: on a backend that sends a call ahead
    (``prefetch``), or that acks and reserves in one call (``ack_and_reserve``,
    the call then made at once) when two batches hold 16 tasks or fewer."""
    capabilities = worker.broker.connector.capabilities
    small = 16 // worker.config.tasks_per_transaction >= 2
    return PREFETCH in capabilities or (ACK_AND_RESERVE in capabilities and small)


def record_fetches(
    worker: Recording, events: list[Any], handles: list[tuple[object, object]] | None = None
) -> list[tuple[int, int]]:
    """Record each reserve call as (acks it carries, tasks it handed out), and in
    ``events`` when it was started and finished; in ``handles``, the batch handle
    its acks carried and the handle of the batch it handed out."""
    calls: list[tuple[int, int]] = []
    begin = worker.broker.ack_and_reserve_begin

    def recording_begin(queue: str, receipts: Any, number: int, lease: float) -> Any:
        events.append(("begin", len(receipts)))
        finish = begin(queue, receipts, number, lease)

        def recording_finish() -> Any:
            batch = finish()
            events.append(("finish", len(batch)))
            calls.append((len(receipts), len(batch)))
            if handles is not None:
                handles.append((getattr(receipts, "handle", None), batch.handle))
            return batch

        return recording_finish

    worker.broker.ack_and_reserve_begin = recording_begin  # type: ignore[method-assign]
    return calls


def test_tasks_per_transaction_sets_the_batch_size(build: Any) -> None:
    worker = build(max_tasks_per_run=25, tasks_per_transaction=10, prefetch_under=0)
    handles: list[tuple[object, object]] = []
    calls = record_fetches(worker, [], handles)
    worker.push_tasks(kwargs_list=[{"n": i} for i in range(25)])
    worker.work_loop()
    assert [handed for _, handed in calls] == [10, 10, 5]
    if ACK_AND_RESERVE in worker.broker.connector.capabilities:
        # each batch's acks travel with the next reserve, by the batch's own handle
        carried, made = zip(*handles, strict=True)
        assert list(carried) == [None, *made[:-1]]
        assert [acks for acks, _ in calls] == [0, 10, 10]
    else:
        assert [acks for acks, _ in calls] == [0, 0, 0]  # grouped acks, one call per batch
    assert [e[1] for e in worker.named("on_success")] == list(range(25))
    assert in_flight(worker) == 0


def test_prefetch_sends_the_next_reserve_before_the_batch_runs(build: Any) -> None:
    events: list[Any] = []

    def work(self: Recording, task: sergeant.Task) -> None:
        events.append(("work", task.kwargs["n"]))

    worker = build(work, max_tasks_per_run=25, tasks_per_transaction=10)
    calls = record_fetches(worker, events)
    worker.push_tasks(kwargs_list=[{"n": i} for i in range(25)])
    worker.work_loop()
    runs = [("work", n) for n in range(25)]
    if not prefetches(worker):
        combined = ACK_AND_RESERVE in worker.broker.connector.capabilities
        acks = 10 if combined else 0  # else grouped acks, one call per batch
        assert events == [
            ("begin", 0), ("finish", 10), *runs[:10],
            ("begin", acks), ("finish", 10), *runs[10:20],
            ("begin", acks), ("finish", 5), *runs[20:],
        ]  # fmt: skip
    else:
        # The first batch alone; then, once batches run quickly, the next reserve
        # (carrying the acks finished so far) goes out before a batch runs.
        assert events == [
            ("begin", 0), ("finish", 10), *runs[:10],
            ("begin", 10), ("finish", 10), ("begin", 0), *runs[10:20],
            ("finish", 5), *runs[20:],
        ]  # fmt: skip
    assert sum(handed for _, handed in calls) == 25
    assert [e[1] for e in worker.named("on_success")] == list(range(25))
    assert in_flight(worker) == 0
    assert worker.number_of_enqueued_tasks(include_delayed=True) == 0


def test_quick_small_batches_share_a_call_and_calls_ack_an_earlier_call_whole(
    build: Any,
) -> None:
    events: list[Any] = []
    handles: list[tuple[object, object]] = []

    def work(self: Recording, task: sergeant.Task) -> None:
        events.append(("work", task.kwargs["n"]))

    worker = build(work, max_tasks_per_run=60, tasks_per_transaction=1)
    calls = record_fetches(worker, events, handles)
    worker.push_tasks(kwargs_list=[{"n": i} for i in range(60)])
    worker.work_loop()
    assert [e[1] for e in events if e[0] == "work"] == list(range(60)), "each task ran once"
    assert sum(handed for _, handed in calls) == 60
    if not prefetches(worker):
        assert {handed for _, handed in calls} == {1}  # one batch per call
        return
    # Several one-task batches per call made ahead: fewer calls than tasks.
    assert max(handed for _, handed in calls) > 1
    assert len(calls) < 60
    # Never more than two calls' worth held: read and not run, plus one on its way.
    held = 0
    for kind, n in events:
        if kind == "finish":
            held += n
        elif kind == "work":
            held -= 1
        assert held <= 8, events
    # A call made ahead carries the acks of the tasks run since the call before it
    # went out: those of the call before that, whole, by its handle.
    ahead = [i for i in range(2, len(calls)) if calls[i][0] and calls[i][0] == calls[i - 2][1]]
    assert len(ahead) >= len(calls) // 2, calls
    assert all(handles[i][0] is handles[i - 2][1] for i in ahead), (calls, handles)
    assert in_flight(worker) == 0


def test_a_call_made_ahead_asks_for_no_more_than_50_ms_of_work(build: Any) -> None:
    events: list[tuple[str, int]] = []

    def work(self: Recording, task: sergeant.Task) -> None:
        n = task.kwargs["n"]
        events.append(("work", n))
        if n >= 40:
            time.sleep(0.02)  # the task's own run time: 2 of these fit in 50 ms

    worker = build(work, max_tasks_per_run=70, tasks_per_transaction=1)
    begin = worker.broker.ack_and_reserve_begin

    def recording_begin(queue: str, receipts: Any, number: int, lease: float) -> Any:
        events.append(("ask", number))
        return begin(queue, receipts, number, lease)

    worker.broker.ack_and_reserve_begin = recording_begin  # type: ignore[method-assign]
    worker.push_tasks(kwargs_list=[{"n": i} for i in range(70)])
    worker.work_loop()
    assert [n for kind, n in events if kind == "work"] == list(range(70))
    if not prefetches(worker):
        return
    asked = [n for kind, n in events if kind == "ask"]
    assert max(asked) > 2, "quick tasks: calls ask for several batches"
    # Once a slow task has run, a call asks for what runs in 50 ms at its pace.
    slow_ran = events.index(("work", 41))
    late = [n for kind, n in events[slow_ran:] if kind == "ask"]
    assert late, events
    assert max(late) <= 2, events
    assert in_flight(worker) == 0


def test_stopping_puts_prefetched_batches_back_unchanged(build: Any) -> None:
    ran: list[int] = []

    def work(self: Recording, task: sergeant.Task) -> None:
        ran.append(task.kwargs["n"])
        if task.kwargs["n"] == 12:
            self.stop()

    worker = build(work, tasks_per_transaction=5)
    calls = record_fetches(worker, [])
    worker.push_tasks(kwargs_list=[{"n": i} for i in range(40)])
    worker.work_loop()
    assert ran == list(range(13))
    assert sum(handed for _, handed in calls) > 13  # batches were fetched beyond the stop
    assert in_flight(worker) == 0
    assert worker.number_of_enqueued_tasks() == 40 - 13
    left = worker.get_next_tasks(40)
    assert sorted(task.kwargs["n"] for task in left) == list(range(13, 40))
    assert {task.run_count for task in left} == {0}


def test_a_prefetched_batch_that_waited_past_half_its_lease_is_handed_back_not_run(
    build: Any,
) -> None:
    seen: list[tuple[int, int]] = []
    begun: list[float] = []  # when each reserve went out (monotonic)

    def work(self: Recording, task: sergeant.Task) -> None:
        seen.append((task.kwargs["n"], self.current.item.deliveries))
        if task.kwargs["n"] == 5:
            # A long task: it runs until the latest reserve sent (the batch fetched
            # ahead, if any) has waited 3/4 of its lease, however slow the machine.
            wait_until(
                lambda: time.monotonic() - begun[-1] > 0.75 * self.config.lease_seconds,
                timeout=30,
                interval=0.01,
                message="the batch fetched ahead to wait past half its lease",
            )

    stream = io.StringIO()
    logs = Logging(level=logging.INFO, handlers=[logging.StreamHandler(stream)])
    worker = build(
        work, max_tasks_per_run=10, tasks_per_transaction=2, lease_seconds=1.0, logging=logs
    )
    begin = worker.broker.ack_and_reserve_begin

    def timed_begin(queue: str, receipts: Any, number: int, lease: float) -> Any:
        begun.append(time.monotonic())
        return begin(queue, receipts, number, lease)

    worker.broker.ack_and_reserve_begin = timed_begin  # type: ignore[method-assign]
    worker.push_tasks(kwargs_list=[{"n": i} for i in range(10)])
    worker.work_loop()
    assert sorted(n for n, _ in seen) == list(range(10)), "each task ran once"
    prefetching = prefetches(worker)
    if prefetching:  # the batch fetched ahead was handed back, then handed out again
        assert dict(seen)[6] == 2
        assert "handing back 2 prefetched tasks: they waited" in stream.getvalue()
    else:
        assert {deliveries for _, deliveries in seen} == {1}
        assert "prefetched" not in stream.getvalue()
    assert in_flight(worker) == 0
    assert worker.number_of_enqueued_tasks(include_delayed=True) == 0


class Mixed(Plain):
    """Only ``work`` and the failure handlers: fails, retries and requeues some tasks."""

    requeued: set[int] = set()

    def work(self, task: sergeant.Task) -> int:
        n = int(task.kwargs["n"])
        if n % 5 == 1:
            raise ValueError(f"bad {n}")
        if n % 5 == 2 and task.run_count == 0:
            self.retry(task)
        if n % 5 == 3 and n not in self.requeued:
            self.requeued.add(n)
            self.requeue(task)
        return n


class MixedWithHooks(Mixed):
    """The same, with a pre_work hook: the worker's general path."""

    def pre_work(self, task: sergeant.Task) -> None:
        pass


@pytest.mark.parametrize("worker_class", [Mixed, MixedWithHooks])
def test_failures_retries_and_requeues_count_alike_on_the_plain_path_and_with_hooks(
    connector_config: Connector, queue_name: str, worker_class: type[Mixed]
) -> None:
    from sergeant.executor._runner import Runner

    settings = {
        "name": queue_name,
        "connector": connector_config,
        "max_tasks_per_run": 40 + 8 + 8,
        "tasks_per_transaction": 7,
    }
    worker = type("Configured", (worker_class,), {"settings": settings, "requeued": set()})()
    worker.init_worker()
    try:
        assert Runner(worker)._plain is (worker_class is Mixed)
        worker.push_tasks(kwargs_list=[{"n": n} for n in range(40)])
        counters = worker.work_loop()["counters"]
        assert (counters.done, counters.failed, counters.retried, counters.requeued) == (
            32,
            8,
            8,
            8,
        )
        assert counters.processed == 56
        assert counters.first_task_at <= counters.last_task_at
        assert worker.number_of_enqueued_tasks(include_delayed=True) == 0
        assert in_flight(worker) == 0
    finally:
        worker.close()


def test_stop_ends_the_loop_and_releases_unstarted_tasks(build: Any) -> None:
    def stop_at_once(self: Recording, task: sergeant.Task) -> None:
        self.stop()

    worker = build(stop_at_once, tasks_per_transaction=5)
    worker.push_tasks(kwargs_list=[{"n": i} for i in range(5)])
    summary = worker.work_loop()
    assert summary["stop"] is True
    assert worker.named("on_stop") == [("on_stop", 0)]
    assert worker.number_of_enqueued_tasks() == 4
    assert in_flight(worker) == 0


def test_respawn_ends_the_loop(build: Any) -> None:
    def respawn(self: Recording, task: sergeant.Task) -> None:
        self.respawn()

    worker = build(respawn, tasks_per_transaction=3)
    worker.push_tasks(kwargs_list=[{"n": i} for i in range(3)])
    summary = worker.work_loop()
    assert summary["respawn"] is True
    assert worker.number_of_enqueued_tasks() == 2
    assert in_flight(worker) == 0


def test_the_heap_is_frozen_for_the_collector_only_while_the_loop_runs(build: Any) -> None:
    seen: list[int] = []

    def note(self: Recording, task: sergeant.Task) -> None:
        seen.append(gc.get_freeze_count())

    worker = build(note, max_tasks_per_run=2)
    worker.push_tasks(kwargs_list=[{"n": 1}, {"n": 2}])
    assert gc.get_freeze_count() == 0
    worker.work_loop()
    assert len(seen) == 2
    assert min(seen) > 0, "objects alive at the start were not frozen while tasks ran"
    assert gc.get_freeze_count() == 0, "the loop left objects frozen"


def test_starvation_calls_on_starvation(build: Any) -> None:
    worker = build(starvation=Starvation(time_with_no_tasks=1))
    summary = worker.work_loop()
    assert summary["stop"] is True
    assert worker.named("on_starvation") == [("on_starvation", 1)]


def test_push_task_from_work_passes_the_trace_id_on(build: Any, queue_name: str) -> None:
    def chain(self: Recording, task: sergeant.Task) -> None:
        self.push_task(kwargs={"next": True}, task_name=f"{queue_name}-next")

    worker = build(chain, max_tasks_per_run=1)
    worker.push_task(kwargs={"n": 1}, trace_id="trace-42")
    worker.work_loop()
    (follow_up,) = worker.get_next_tasks(number_of_tasks=5, task_name=f"{queue_name}-next")
    assert follow_up.kwargs == {"next": True}
    assert follow_up.trace_id == "trace-42"


def test_lock_is_shared_through_the_connector(build: Any) -> None:
    worker = build()
    lock = worker.lock("e2e-lock")
    assert lock.acquire(timeout=1, ttl=10)
    assert not worker.lock("e2e-lock").acquire(timeout=0.1, check_interval=0.05)
    assert lock.release()


def test_undecodable_payload_is_dead_lettered_and_the_worker_keeps_going(build: Any) -> None:
    worker = build(max_tasks_per_run=2)
    worker.broker.connector.queue_push(worker.config.name, b"\xc1 garbage")
    worker.push_task(kwargs={"n": 5})
    summary = worker.work_loop()
    assert worker.named("on_success") == [("on_success", 5, 5)]
    (dead,) = worker.broker.dead_letters(worker.config.name)
    assert dead.payload == b"\xc1 garbage"
    assert "cannot decode" in dead.reason
    assert summary["counters"].dead == 1
    assert in_flight(worker) == 0


def test_too_many_deliveries_go_to_the_dead_letter_queue(build: Any) -> None:
    worker = build(max_tasks_per_run=1, max_deliveries=2)
    worker.push_task(kwargs={"n": 9})
    connector = worker.broker.connector
    for _ in range(2):  # two workers "died" holding it
        wait_until(lambda: connector.queue_reserve(worker.config.name, 1, 0.1), timeout=10)
    worker.work_loop()
    assert worker.named("pre_work") == []
    (dead,) = worker.broker.dead_letters(worker.config.name)
    assert dead.deliveries == 3
    assert "max_deliveries=2" in dead.reason
    assert connector.queue_length(dead_queue_name(worker.config.name)) == 1


def test_at_most_once_pops_destructively(build: Any) -> None:
    worker = build(max_tasks_per_run=3, delivery="at_most_once", tasks_per_transaction=2)
    worker.push_tasks(kwargs_list=[{"n": i} for i in range(3)])
    worker.work_loop()
    assert [e[1] for e in worker.named("on_success")] == [0, 1, 2]
    assert in_flight(worker) == 0
    assert worker.number_of_enqueued_tasks() == 0


def test_the_lease_is_extended_while_a_long_task_runs(build: Any) -> None:
    def slow(self: Recording, task: sergeant.Task) -> None:
        time.sleep(1.5)

    worker = build(slow, max_tasks_per_run=1, lease_seconds=0.4)
    worker.push_task(kwargs={"n": 1})
    runner = threading.Thread(target=worker.work_loop)
    runner.start()
    wait_until(lambda: worker.named("pre_work"), timeout=10)
    connector = worker.broker.connector
    stolen = []
    while runner.is_alive():
        stolen += connector.queue_reserve(worker.config.name, 1, 5)
        time.sleep(0.05)
    runner.join()
    assert stolen == []
    assert worker.named("on_success") == [("on_success", 1, None)]
    assert in_flight(worker) == 0
    assert worker.number_of_enqueued_tasks() == 0


def test_logging_events_reach_the_configured_handlers(
    build: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(self: Recording, task: sergeant.Task) -> None:
        raise ValueError("logged")

    stream = io.StringIO()
    config = Logging(
        level=logging.INFO, handlers=[logging.StreamHandler(stream)], log_to_stdout=True
    )
    worker = build(boom, max_tasks_per_run=1, logging=config)
    worker.push_task(kwargs={"n": 1})
    worker.work_loop()
    assert "task has failed" in stream.getvalue()
    assert "task has failed" in capsys.readouterr().out


def test_sergeant_producer_api(build: Any) -> None:
    worker = build()
    worker.purge_tasks()
    assert worker.push_tasks(kwargs_list=[{"n": 1}, {"n": 2}])
    assert worker.push_task(kwargs={"n": 0}, priority="HIGH")
    assert worker.push_task(kwargs={"n": 3}, consumable_from=time.time() + 3600)
    assert worker.number_of_enqueued_tasks() == 3
    assert worker.number_of_enqueued_tasks(include_delayed=True) == 4
    tasks = worker.get_next_tasks(number_of_tasks=3)
    assert [t.kwargs["n"] for t in tasks] == [0, 1, 2] or tasks[0].kwargs["n"] == 0
    assert all(t.run_count == 0 and t.date > 0 for t in tasks)
    assert worker.purge_tasks()
    assert worker.number_of_enqueued_tasks(include_delayed=True) == 0


def test_keys_round_trip_through_the_encoder(build: Any) -> None:
    broker = build().broker
    assert broker.set_key("e2e-key", {"a": (1, 2)})
    assert not broker.set_key("e2e-key", {"a": 3})  # overwrites, as Sergeant's does
    assert broker.get_key("e2e-key") == {"a": 3}
    assert broker.delete_key("e2e-key")
    assert broker.get_key("e2e-key") is None


def test_the_encoder_field_is_used_for_every_task(build: Any) -> None:
    worker = build(max_tasks_per_run=1, encoder=Encoder(serializer="json", compressor="zlib"))
    worker.push_task(kwargs={"n": 4, "text": "é" * 100})
    (raw,) = [d.item for d in worker.broker.connector.queue_reserve(worker.config.name, 1, 0.1)]
    assert json.loads(zlib.decompress(raw))["kwargs"] == {"n": 4, "text": "é" * 100}
    wait_until(lambda: worker.number_of_enqueued_tasks() == 1, timeout=10)
    worker.work_loop()
    assert worker.named("on_success") == [("on_success", 4, 4)]


def test_logging_events_can_be_switched_off(build: Any) -> None:
    def boom(self: Recording, task: sergeant.Task) -> None:
        if task.kwargs.get("n"):
            raise ValueError("quiet")

    stream = io.StringIO()
    config = Logging(
        level=logging.DEBUG,
        handlers=[logging.StreamHandler(stream)],
        events=LoggingEvents(on_failure=False, on_success=True),
    )
    worker = build(boom, max_tasks_per_run=2, logging=config)
    worker.push_tasks(kwargs_list=[{"n": 1}])
    worker.push_task(kwargs={"ok": True})
    worker.work_loop()
    assert "task has failed" not in stream.getvalue()
    assert "task has finished successfully" in stream.getvalue()
