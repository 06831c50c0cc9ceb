"""Delivery: what happens to a task whose worker process dies while working it,
and how a worker's tasks are stored.

The crash is real: a forked process runs the worker, whose ``work`` ends the
process with ``os._exit``. Whatever comes back is looked for during
:data:`COMEBACK_SECONDS` (runs of ours shorten the lease so a task handed out
again can come back within it).
"""

import os
import pickle

import sergeant
from _harness import behaviour, main, wait_until

COMEBACK_SECONDS = 10.0


def _crashing_worker(ctx):
    class Crashing(sergeant.worker.Worker):
        def generate_config(self):
            return ctx.worker_config(max_tasks_per_run=1)

        def work(self, task):
            os._exit(3)

    return Crashing


@behaviour()
def task_of_a_worker_that_died(ctx):
    cls = _crashing_worker(ctx)
    producer = cls()
    producer.init_broker()
    producer.push_task(kwargs={"n": 1})
    pid = os.fork()
    if pid == 0:
        worker = cls()
        worker.init_worker()
        worker.work_loop()
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    came_back = wait_until(
        lambda: producer.get_next_tasks(number_of_tasks=1), timeout=COMEBACK_SECONDS
    )
    return {
        "worker_exit_code": os.waitstatus_to_exitcode(status),
        "came_back": [task.kwargs for task in came_back or []],
    }


@behaviour()
def stored_task_is_a_pickled_task(ctx):
    class Producer(sergeant.worker.Worker):
        def generate_config(self):
            return ctx.worker_config()

    producer = Producer()
    producer.init_broker()
    producer.push_task(kwargs={"n": 1}, trace_id="t")
    raw = ctx.connector().queue_pop(ctx.name())
    try:
        value = pickle.loads(raw)
    except Exception:
        return {"pickled": False}
    return {"pickled": True, "kwargs": value.kwargs, "trace_id": value.trace_id}


@behaviour()
def stored_msgpack_task_is_sergeants_map(ctx):
    import msgpack

    class Producer(sergeant.worker.Worker):
        def generate_config(self):
            return ctx.worker_config(encoder=sergeant.config.Encoder(serializer="msgpack"))

    producer = Producer()
    producer.init_broker()
    producer.push_task(kwargs={"n": 1}, trace_id="t")
    value = msgpack.unpackb(ctx.connector().queue_pop(ctx.name()), raw=False)
    if isinstance(value, dict) and "__task__" in value:
        fields = value["__task__"]
        return {"form": "map", "fields": sorted(fields), "kwargs": fields["kwargs"]}
    return {"form": type(value).__name__}


if __name__ == "__main__":
    main()
