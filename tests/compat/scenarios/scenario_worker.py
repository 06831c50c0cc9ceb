"""The worker API of Sergeant's documentation: its config, its producer methods,
its work loop with the hooks, handlers and actions, as a supervised process runs
them (``init_worker``, then ``work_loop``).

Each work loop is bounded by ``max_tasks_per_run`` equal to the runs it must
make, or by an action that ends it, because Sergeant's loop never ends on an
empty queue. Hooks and handlers append what they saw to ``worker.events``.
"""

import os
import signal
import time

import sergeant
from _harness import behaviour, main, run_worker, task_view


def _recording(ctx, base=None, **fields):
    """A worker class on this run's storage whose hooks and handlers record events."""

    class Recording(base or sergeant.worker.Worker):
        def generate_config(self):
            return ctx.worker_config(**fields)

        def initialize(self):
            self.events.append(["initialize"])

        def finalize(self):
            self.events.append(["finalize"])

        def pre_work(self, task):
            self.events.append(["pre_work", task.kwargs])

        def post_work(self, task, success, exception):
            name = None if exception is None else type(exception).__name__
            self.events.append(["post_work", task.kwargs, success, name])

        def on_success(self, task, returned_value):
            self.events.append(["on_success", task.kwargs, returned_value])

        def on_failure(self, task, exception):
            self.events.append(
                ["on_failure", task.kwargs, type(exception).__name__, str(exception)]
            )

        def on_timeout(self, task):
            self.events.append(["on_timeout", task.kwargs])

        def on_retry(self, task):
            self.events.append(["on_retry", task.kwargs, task.run_count])

        def on_requeue(self, task):
            self.events.append(["on_requeue", task.kwargs, task.run_count])

        def on_max_retries(self, task):
            self.events.append(["on_max_retries", task.kwargs, task.run_count])

        def on_starvation(self, time_with_no_tasks):
            self.events.append(["on_starvation", time_with_no_tasks])

        def on_stop(self, task):
            self.events.append(["on_stop", task.kwargs])

    return Recording


def _make(cls, *kwargs_list):
    """An instance of ``cls`` with ``kwargs_list`` pushed to its queue."""
    worker = cls()
    worker.events = []
    worker.init_broker()
    if kwargs_list:
        worker.push_tasks(kwargs_list=list(kwargs_list))
    return worker


def _left(worker):
    return worker.number_of_enqueued_tasks(include_delayed=True)


# Config ---------------------------------------------------------------------


@behaviour("local")
def default_generate_config(ctx):
    config = sergeant.worker.Worker().config
    return {"name": config.name, "connector_type": config.connector.type}


@behaviour("local")
def default_connector(ctx):
    config = sergeant.config.WorkerConfig(name="x", **ctx.overrides())
    return {"type": config.connector.type, "params": dict(config.connector.params)}


@behaviour("local")
def worker_config_defaults(ctx):
    config = sergeant.config.WorkerConfig(name="x")
    events = config.logging.events
    return {
        "max_tasks_per_run": config.max_tasks_per_run,
        "max_retries": config.max_retries,
        "tasks_per_transaction": config.tasks_per_transaction,
        "number_of_threads": config.number_of_threads,
        "timeouts": [config.timeouts.timeout, config.timeouts.grace_period],
        "logging": [config.logging.level, config.logging.log_to_stdout, config.logging.handlers],
        "events": {name: getattr(events, name) for name in sorted(_EVENT_NAMES)},
        "starvation": config.starvation,
    }


_EVENT_NAMES = (
    "on_success",
    "on_failure",
    "on_timeout",
    "on_retry",
    "on_max_retries",
    "on_requeue",
    "on_starvation",
    "on_stop",
)


@behaviour("local")
def worker_config_default_encoder(ctx):
    encoder = sergeant.config.WorkerConfig(name="x", **ctx.overrides()).encoder
    return {"compressor": encoder.compressor, "serializer": encoder.serializer}


@behaviour("local")
def class_attribute_config_gives_way_to_generate_config(ctx):
    class Old(sergeant.worker.Worker):
        config = sergeant.config.WorkerConfig(name="from_class_attribute")

    return Old().config.name


@behaviour("local")
def config_replace(ctx):
    base = sergeant.config.WorkerConfig(name="base_worker", max_retries=3)
    derived = base.replace(name="derived_worker")
    return {
        "name": derived.name,
        "max_retries": derived.max_retries,
        "base_unchanged": base.name,
        "same_connector": derived.connector == base.connector,
    }


@behaviour("local")
def config_is_frozen(ctx):
    config = sergeant.config.WorkerConfig(name="x")
    try:
        config.name = "y"
    except AttributeError:
        return {"raised_attribute_error": True, "name": config.name}
    return {"raised_attribute_error": False, "name": config.name}


@behaviour("local")
def config_values_are_not_checked_until_used(ctx):
    try:
        sergeant.config.WorkerConfig(name="x", max_retries=-1, tasks_per_transaction=0)
    except ValueError:
        return {"raised": True}
    return {"constructed": True}


# Producer methods ---------------------------------------------------------


@behaviour()
def push_task_returns(ctx):
    worker = _make(_recording(ctx))
    return {
        "push_task": worker.push_task(kwargs={"n": 1}),
        "push_tasks": worker.push_tasks(kwargs_list=[{"n": 2}]),
    }


@behaviour()
def push_task_and_get_next_tasks(ctx):
    worker = _make(_recording(ctx))
    worker.push_task(kwargs={"url": "https://example.com"})
    return [task_view(task) for task in worker.get_next_tasks(number_of_tasks=1)]


@behaviour()
def push_tasks_and_number_of_enqueued_tasks(ctx):
    worker = _make(_recording(ctx))
    worker.push_tasks(kwargs_list=[{"n": n} for n in range(5)])
    counted = worker.number_of_enqueued_tasks()
    taken = worker.get_next_tasks(number_of_tasks=3)
    return {"counted": counted, "taken": [t.kwargs["n"] for t in taken], "left": _left(worker)}


@behaviour()
def push_task_to_another_queue(ctx):
    worker = _make(_recording(ctx))
    worker.push_task(kwargs={"n": 1}, task_name=ctx.name("parse_html"))
    return {
        "own_queue": worker.number_of_enqueued_tasks(),
        "other_queue": worker.number_of_enqueued_tasks(task_name=ctx.name("parse_html")),
        "got": [
            t.kwargs
            for t in worker.get_next_tasks(number_of_tasks=5, task_name=ctx.name("parse_html"))
        ],
    }


@behaviour()
def push_task_high_priority(ctx):
    worker = _make(_recording(ctx))
    worker.push_task(kwargs={"n": "a"})
    worker.push_task(kwargs={"n": "b"})
    worker.push_task(kwargs={"n": "urgent"}, priority="HIGH")
    return [worker.get_next_tasks(number_of_tasks=1)[0].kwargs["n"] for _ in range(3)]


@behaviour()
def push_tasks_high_priority_order(ctx):
    worker = _make(_recording(ctx))
    worker.push_task(kwargs={"n": "a"})
    worker.push_tasks(kwargs_list=[{"n": "h1"}, {"n": "h2"}], priority="HIGH")
    return [worker.get_next_tasks(number_of_tasks=1)[0].kwargs["n"] for _ in range(3)]


@behaviour()
def push_task_consumable_from(ctx):
    worker = _make(_recording(ctx))
    worker.push_task(kwargs={"n": 1}, consumable_from=time.time() + 60)
    return {
        "got": worker.get_next_tasks(number_of_tasks=1),
        "enqueued": worker.number_of_enqueued_tasks(),
        "enqueued_with_delayed": worker.number_of_enqueued_tasks(include_delayed=True),
    }


@behaviour()
def purge_tasks(ctx):
    worker = _make(_recording(ctx), {"n": 1}, {"n": 2}, {"n": 3})
    return {"purged": worker.purge_tasks(), "left": _left(worker), "again": worker.purge_tasks()}


@behaviour()
def push_task_trace_id(ctx):
    worker = _make(_recording(ctx))
    worker.push_task(kwargs={"n": 1}, trace_id="trace-1")
    worker.push_task(kwargs={"n": 2})
    worker.push_tasks(kwargs_list=[{"n": 3}], trace_id="trace-3")
    return [t.trace_id for t in worker.get_next_tasks(number_of_tasks=3)]


@behaviour()
def get_next_tasks_is_destructive(ctx):
    worker = _make(_recording(ctx), {"n": 1}, {"n": 2})
    worker.get_next_tasks(number_of_tasks=1)
    return {"left": _left(worker), "next": [t.kwargs for t in worker.get_next_tasks(2)]}


# The work loop ------------------------------------------------------------


@behaviour()
def lifecycle_of_a_successful_task(ctx):
    class Worker(_recording(ctx, max_tasks_per_run=1)):
        def work(self, task):
            self.events.append(["work", task_view(task)])
            return task.kwargs["n"] * 2

    worker = _make(Worker, {"n": 21})
    summary = run_worker(worker)
    return {"events": worker.events, "summary": summary, "left": _left(worker)}


@behaviour()
def failing_task(ctx):
    class Worker(_recording(ctx, max_tasks_per_run=2)):
        def work(self, task):
            self.events.append(["work", task.kwargs])
            if task.kwargs["n"] == 1:
                raise ValueError("boom")

    worker = _make(Worker, {"n": 1}, {"n": 2})
    summary = run_worker(worker)
    return {"events": worker.events, "summary": summary, "left": _left(worker)}


@behaviour()
def on_failure_receives_the_raised_exception(ctx):
    raised = []

    class Worker(_recording(ctx, max_tasks_per_run=1)):
        def work(self, task):
            error = KeyError("missing")
            raised.append(error)
            raise error

        def on_failure(self, task, exception):
            self.events.append(exception is raised[0])

    worker = _make(Worker, {"n": 1})
    run_worker(worker)
    return worker.events


@behaviour()
def retry_from_work(ctx):
    class Worker(_recording(ctx, max_tasks_per_run=2)):
        def work(self, task):
            self.events.append(["work", task.kwargs, task.run_count])
            if task.run_count == 0:
                self.retry(task=task)

    worker = _make(Worker, {"n": 1})
    summary = run_worker(worker)
    return {"events": worker.events, "summary": summary, "left": _left(worker)}


@behaviour("local")
def retry_again_from_on_retry(ctx):
    """``on_retry`` calling ``retry`` again for the run it is told about."""

    class Worker(_recording(ctx, max_tasks_per_run=1)):
        def work(self, task):
            self.retry(task=task)

        def on_retry(self, task):
            self.events.append(["on_retry", task.run_count])
            self.retry(task=task)

    worker = _make(Worker, {"n": 1})
    try:
        run_worker(worker)
        ended_by = None
    except BaseException as exc:  # Sergeant: the second WorkerRetry ends work_loop
        ended_by = type(exc).__name__
    return {"queued": _left(worker), "ended_by": ended_by, "events": worker.events}


@behaviour()
def retry_caught_inside_work(ctx):
    class Worker(_recording(ctx, max_tasks_per_run=2)):
        def work(self, task):
            self.events.append(["work", task.run_count])
            if task.run_count == 0:
                try:
                    self.retry(task=task)
                except Exception:
                    self.events.append(["caught by except Exception"])
                except sergeant.worker.WorkerRetry:
                    self.events.append(["caught WorkerRetry"])
            return task.run_count

    worker = _make(Worker, {"n": 1})
    summary = run_worker(worker)
    return {"events": worker.events, "summary": summary, "left": _left(worker)}


@behaviour()
def retry_from_on_failure(ctx):
    class Worker(_recording(ctx, max_tasks_per_run=2)):
        def work(self, task):
            self.events.append(["work", task.run_count])
            if task.run_count == 0:
                raise ConnectionError("try later")

        def on_failure(self, task, exception):
            self.events.append(["on_failure", type(exception).__name__])
            self.retry(task=task)

    worker = _make(Worker, {"n": 1})
    summary = run_worker(worker)
    return {"events": worker.events, "summary": summary, "left": _left(worker)}


@behaviour()
def max_retries_reached(ctx):
    class Worker(_recording(ctx, max_tasks_per_run=3, max_retries=2)):
        def work(self, task):
            self.events.append(["work", task.run_count])
            self.retry(task=task)

    worker = _make(Worker, {"n": 1})
    summary = run_worker(worker)
    return {"events": worker.events, "summary": summary, "left": _left(worker)}


@behaviour()
def max_retries_task_afterwards(ctx):
    class Worker(_recording(ctx, max_tasks_per_run=1, max_retries=1)):
        def work(self, task):
            task.run_count = 1
            self.retry(task=task)

    worker = _make(Worker, {"n": 1})
    run_worker(worker)
    return {
        "queue": _left(worker),
        "dead_letter_queue": worker.number_of_enqueued_tasks(
            task_name=f"{worker.config.name}:dead", include_delayed=True
        ),
    }


@behaviour()
def requeue_from_work(ctx):
    class Worker(_recording(ctx, max_tasks_per_run=2)):
        def work(self, task):
            self.events.append(["work", task.kwargs, task.run_count])
            if "again" not in task.kwargs:
                task.kwargs["again"] = True
                self.requeue(task=task)

    worker = _make(Worker, {"n": 1})
    summary = run_worker(worker)
    return {"events": worker.events, "summary": summary, "left": _left(worker)}


@behaviour()
def retry_later_with_consumable_from(ctx):
    class Worker(_recording(ctx, max_tasks_per_run=1)):
        def work(self, task):
            self.retry(task=task, consumable_from=time.time() + 60 * 30)

    worker = _make(Worker, {"n": 1})
    run_worker(worker)
    return {
        "enqueued": worker.number_of_enqueued_tasks(),
        "enqueued_with_delayed": worker.number_of_enqueued_tasks(include_delayed=True),
        "events": worker.events,
    }


@behaviour()
def stop_from_work(ctx):
    class Worker(_recording(ctx, max_tasks_per_run=3)):
        def work(self, task):
            self.events.append(["work", task.kwargs])
            self.stop()

    worker = _make(Worker, {"n": 1}, {"n": 2}, {"n": 3})
    summary = run_worker(worker)
    # on_stop has a behaviour of its own (below).
    events = [event for event in worker.events if event[0] != "on_stop"]
    return {"events": events, "summary": summary, "left": _left(worker)}


@behaviour()
def on_stop_when_work_calls_stop(ctx):
    class Worker(_recording(ctx, max_tasks_per_run=1)):
        def work(self, task):
            self.stop()

    worker = _make(Worker, {"n": 1})
    run_worker(worker)
    return [event[0] for event in worker.events if event[0] == "on_stop"]


@behaviour()
def respawn_from_work(ctx):
    class Worker(_recording(ctx, max_tasks_per_run=3)):
        def work(self, task):
            self.events.append(["work", task.kwargs])
            self.respawn()

    worker = _make(Worker, {"n": 1}, {"n": 2}, {"n": 3})
    summary = run_worker(worker)
    return {"events": worker.events, "summary": summary, "left": _left(worker)}


@behaviour()
def stop_from_initialize(ctx):
    class Worker(_recording(ctx, max_tasks_per_run=1)):
        def initialize(self):
            self.events.append(["initialize"])
            self.stop()

    worker = _make(Worker, {"n": 1})
    summary = run_worker(worker)
    return {"events": worker.events, "summary": summary, "left": _left(worker)}


@behaviour()
def initialize_fails(ctx):
    class Worker(_recording(ctx, max_tasks_per_run=1)):
        def initialize(self):
            raise RuntimeError("no database")

    worker = _make(Worker, {"n": 1})
    summary = run_worker(worker)
    return {"events": worker.events, "summary": summary, "left": _left(worker)}


@behaviour()
def finalize_fails(ctx):
    class Worker(_recording(ctx, max_tasks_per_run=1)):
        def finalize(self):
            raise RuntimeError("cannot close")

    worker = _make(Worker, {"n": 1})
    summary = run_worker(worker)
    return {"events": worker.events, "summary": summary, "left": _left(worker)}


@behaviour()
def failing_hooks_do_not_stop_the_worker(ctx):
    class Worker(_recording(ctx, max_tasks_per_run=2)):
        def pre_work(self, task):
            self.events.append(["pre_work", task.kwargs])
            raise RuntimeError("pre")

        def work(self, task):
            self.events.append(["work", task.kwargs])

        def post_work(self, task, success, exception):
            self.events.append(["post_work", task.kwargs, success])
            raise RuntimeError("post")

        def on_success(self, task, returned_value):
            self.events.append(["on_success", task.kwargs])
            raise RuntimeError("success handler")

    worker = _make(Worker, {"n": 1}, {"n": 2})
    summary = run_worker(worker)
    return {"events": worker.events, "summary": summary, "left": _left(worker)}


@behaviour()
def timeout_interrupts_the_task(ctx):
    timeouts = sergeant.config.Timeouts(timeout=0.5, grace_period=30.0)

    class Worker(_recording(ctx, max_tasks_per_run=1, timeouts=timeouts)):
        def work(self, task):
            self.events.append(["work", task.kwargs])
            time.sleep(30)
            self.events.append(["not interrupted"])

    worker = _make(Worker, {"n": 1})
    summary = run_worker(worker)
    return {"events": worker.events, "summary": summary, "left": _left(worker)}


@behaviour()
def timeout_then_retry_from_on_timeout(ctx):
    timeouts = sergeant.config.Timeouts(timeout=0.5, grace_period=30.0)

    class Worker(_recording(ctx, max_tasks_per_run=2, timeouts=timeouts)):
        def work(self, task):
            self.events.append(["work", task.run_count])
            if task.run_count == 0:
                time.sleep(30)

        def on_timeout(self, task):
            self.events.append(["on_timeout", task.run_count])
            self.retry(task=task)

    worker = _make(Worker, {"n": 1})
    summary = run_worker(worker)
    return {"events": worker.events, "summary": summary, "left": _left(worker)}


@behaviour()
def starvation_handler_stops_the_worker(ctx):
    starvation = sergeant.config.Starvation(time_with_no_tasks=1)

    class Worker(_recording(ctx, starvation=starvation)):
        def on_starvation(self, time_with_no_tasks):
            self.events.append(["on_starvation", time_with_no_tasks])
            self.stop()

    worker = _make(Worker)
    summary = run_worker(worker)
    return {"events": worker.events, "summary": summary}


@behaviour()
def max_tasks_per_run(ctx):
    class Worker(_recording(ctx, max_tasks_per_run=3)):
        def work(self, task):
            self.events.append(task.kwargs["n"])

    worker = _make(Worker, *({"n": n} for n in range(5)))
    summary = run_worker(worker)
    return {"events": worker.events, "summary": summary, "left": _left(worker)}


@behaviour()
def tasks_per_transaction(ctx):
    class Worker(_recording(ctx, max_tasks_per_run=10, tasks_per_transaction=4)):
        def work(self, task):
            self.events.append(task.kwargs["n"])

    worker = _make(Worker, *({"n": n} for n in range(10)))
    summary = run_worker(worker)
    return {"events": worker.events, "summary": summary, "left": _left(worker)}


@behaviour()
def number_of_threads(ctx):
    fields = {"max_tasks_per_run": 9, "tasks_per_transaction": 3, "number_of_threads": 3}

    class Worker(_recording(ctx, **fields)):
        def work(self, task):
            time.sleep(0.01)
            return task.kwargs["n"]

    worker = _make(Worker, *({"n": n} for n in range(9)))
    summary = run_worker(worker)
    ran = sorted(event[2] for event in worker.events if event[0] == "on_success")
    return {"ran": ran, "summary": summary, "left": _left(worker)}


@behaviour()
def trace_id_passes_to_pushed_tasks(ctx):
    class Worker(_recording(ctx, max_tasks_per_run=1)):
        def work(self, task):
            self.push_task(kwargs={"child": True}, task_name=ctx.name("children"))
            self.push_tasks(kwargs_list=[{"child": 2}], task_name=ctx.name("children"))

    worker = _make(Worker)
    worker.push_task(kwargs={"n": 1}, trace_id="parent-trace")
    run_worker(worker)
    children = worker.get_next_tasks(number_of_tasks=5, task_name=ctx.name("children"))
    return [[t.kwargs, t.trace_id] for t in children]


@behaviour()
def work_loop_summary_keys(ctx):
    worker = _make(_recording(ctx, max_tasks_per_run=1), {"n": 1})
    worker.init_worker()
    return sorted(worker.work_loop())


@behaviour()
def work_loop_summary_times(ctx):
    worker = _make(_recording(ctx, max_tasks_per_run=1), {"n": 1})
    worker.init_worker()
    summary = worker.work_loop()
    return {
        "types": [type(summary["start_time"]).__name__, type(summary["end_time"]).__name__],
        "naive": [summary["start_time"].tzinfo is None, summary["end_time"].tzinfo is None],
        "ordered": summary["start_time"] <= summary["end_time"],
        "executor": sorted(summary["executor"]),
    }


@behaviour()
def sigterm_while_a_task_runs(ctx):
    class Worker(_recording(ctx, max_tasks_per_run=2)):
        def work(self, task):
            self.events.append(["work", task.kwargs])
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)
            self.events.append(["work went on", task.kwargs])

    worker = _make(Worker, {"n": 1}, {"n": 2})
    summary = run_worker(worker)
    return {"events": worker.events, "summary": summary, "left": _left(worker)}


@behaviour("local")
def constructing_a_worker_leaves_sigterm_alone(ctx):
    before = signal.getsignal(signal.SIGTERM)
    _make(_recording(ctx))
    return signal.getsignal(signal.SIGTERM) is before


@behaviour()
def worker_logger(ctx):
    worker = _make(_recording(ctx))
    worker.init_worker()
    return {
        "name_is_config_name": worker.logger.name == worker.config.name,
        "propagate": worker.logger.propagate,
        "level": worker.logger.level,
    }


if __name__ == "__main__":
    main()
