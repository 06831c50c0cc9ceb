"""The broker: ``sergeant.broker.Broker(connector, encoder)`` built from Sergeant's
parts, and the one a worker's ``init_broker`` sets up (``worker.broker``).

It pushes and pops tasks, retries and requeues them, counts and purges queues,
and stores encoded values under keys.
"""

import time

import sergeant
from _harness import behaviour, main, task_view


def _broker(ctx, serializer="pickle", compressor=None):
    return sergeant.broker.Broker(
        connector=ctx.connector(),
        encoder=sergeant.encoder.encoder.Encoder(
            compressor_name=compressor, serializer_name=serializer
        ),
    )


def _worker_broker(ctx):
    class Producer(sergeant.worker.Worker):
        def generate_config(self):
            return ctx.worker_config()

    worker = Producer()
    worker.init_broker()
    return worker.broker


def _task(**kwargs):
    return sergeant.objects.Task(kwargs=kwargs)


@behaviour()
def built_from_sergeants_parts(ctx):
    views = {}
    for serializer in ("pickle", "msgpack"):
        broker = _broker(ctx, serializer, "zlib")
        broker.push_task(task_name=ctx.name(serializer), task=_task(n=1))
        popped = broker.pop_tasks(task_name=ctx.name(serializer), number_of_tasks=1)
        views[serializer] = [task_view(t) for t in popped]
    return views


@behaviour()
def push_task_and_pop_tasks(ctx):
    broker = _worker_broker(ctx)
    broker.push_task(task_name=ctx.name(), task=_task(n=1))
    popped = broker.pop_tasks(task_name=ctx.name(), number_of_tasks=1)
    return [task_view(task) for task in popped]


@behaviour()
def push_retry_and_requeue_return(ctx):
    broker = _worker_broker(ctx)
    return {
        "push_task": broker.push_task(task_name=ctx.name(), task=_task(n=1)),
        "retry": broker.retry(task_name=ctx.name(), task=_task(n=2)),
        "requeue": broker.requeue(task_name=ctx.name(), task=_task(n=3)),
    }


@behaviour()
def push_tasks_and_pop_many(ctx):
    broker = _worker_broker(ctx)
    pushed = broker.push_tasks(task_name=ctx.name(), tasks=[_task(n=n) for n in range(5)])
    first = broker.pop_tasks(task_name=ctx.name(), number_of_tasks=3)
    rest = broker.pop_tasks(task_name=ctx.name(), number_of_tasks=10)
    return {
        "pushed": pushed,
        "first": [task.kwargs["n"] for task in first],
        "rest": [task.kwargs["n"] for task in rest],
    }


@behaviour()
def push_tasks_of_nothing(ctx):
    broker = _worker_broker(ctx)
    return {
        "pushed": broker.push_tasks(task_name=ctx.name(), tasks=[]),
        "length": broker.number_of_enqueued_tasks(task_name=ctx.name(), include_delayed=True),
    }


@behaviour()
def pop_tasks_from_an_empty_queue(ctx):
    broker = _worker_broker(ctx)
    return [
        broker.pop_tasks(task_name=ctx.name(), number_of_tasks=1),
        broker.pop_tasks(task_name=ctx.name(), number_of_tasks=5),
    ]


@behaviour()
def retry_pushes_with_run_count_plus_one(ctx):
    broker = _worker_broker(ctx)
    task = _task(n=1)
    broker.retry(task_name=ctx.name(), task=task)
    (popped,) = broker.pop_tasks(task_name=ctx.name(), number_of_tasks=1)
    return {"given_task_run_count": task.run_count, "popped": task_view(popped)}


@behaviour()
def requeue_pushes_unchanged(ctx):
    broker = _worker_broker(ctx)
    task = _task(n=1)
    task.run_count = 2
    broker.requeue(task_name=ctx.name(), task=task)
    (popped,) = broker.pop_tasks(task_name=ctx.name(), number_of_tasks=1)
    return {"popped": task_view(popped), "same_date": popped.date == task.date}


@behaviour()
def retry_and_requeue_delayed(ctx):
    broker = _worker_broker(ctx)
    later = time.time() + 60
    broker.retry(task_name=ctx.name(), task=_task(n=1), consumable_from=later)
    broker.requeue(task_name=ctx.name(), task=_task(n=2), consumable_from=later)
    return {
        "ready": broker.number_of_enqueued_tasks(task_name=ctx.name(), include_delayed=False),
        "with_delayed": broker.number_of_enqueued_tasks(task_name=ctx.name(), include_delayed=True),
    }


@behaviour()
def purge_tasks(ctx):
    broker = _worker_broker(ctx)
    broker.push_tasks(task_name=ctx.name(), tasks=[_task(n=n) for n in range(3)])
    return {
        "purged": broker.purge_tasks(task_name=ctx.name()),
        "left": broker.number_of_enqueued_tasks(task_name=ctx.name(), include_delayed=True),
        "purged_again": broker.purge_tasks(task_name=ctx.name()),
    }


@behaviour()
def keys_hold_encoded_values(ctx):
    broker = _worker_broker(ctx)
    value = {"count": 3, "names": ["a", "b"]}
    return {
        "set_new": broker.set_key(name=ctx.name(), value=value),
        "get": broker.get_key(name=ctx.name()),
        "set_again": broker.set_key(name=ctx.name(), value={"count": 4}),
        "get_again": broker.get_key(name=ctx.name()),
        "delete": broker.delete_key(name=ctx.name()),
        "get_missing": broker.get_key(name=ctx.name()),
        "delete_missing": broker.delete_key(name=ctx.name()),
    }


@behaviour()
def broker_lock(ctx):
    broker = _worker_broker(ctx)
    lock = broker.lock(name=ctx.name())
    return {"acquired": lock.acquire(timeout=1, ttl=60), "released": lock.release()}


@behaviour()
def broker_attributes(ctx):
    connector = ctx.connector()
    broker = sergeant.broker.Broker(connector=connector, encoder=_broker(ctx).encoder)
    return {
        "connector_kept": broker.connector is connector,
        "connector_is_a_connector": isinstance(broker.connector, sergeant.connector.Connector),
    }


if __name__ == "__main__":
    main()
