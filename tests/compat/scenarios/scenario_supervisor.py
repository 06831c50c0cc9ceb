"""The supervisor as Sergeant's documentation runs it:
``python -m sergeant.supervisor --worker-module=M --worker-class=C --concurrent-workers=N``.

Each behaviour writes a worker module to a directory of its own and runs the
supervisor on it as a real process of this interpreter; the workers record
each task they run (with their process id) in a file there.
"""

import json
import os
import subprocess
import sys
import textwrap

from _harness import behaviour, main

WORKER_MODULE = """
import os
import sys
import time

import sergeant

CONNECTOR = json.loads({connector!r})


class Worker(sergeant.worker.Worker):
    def generate_config(self):
        return sergeant.config.WorkerConfig(
            name={name!r},
            connector=sergeant.config.Connector(**CONNECTOR),
            max_tasks_per_run={max_tasks_per_run},
            starvation=sergeant.config.Starvation(time_with_no_tasks=1),
        )

    def work(self, task):
        with open({ran!r}, "a") as ran:
            ran.write(json.dumps([os.getpid(), task.kwargs]) + "\\n")
        if task.kwargs.get("stop"):
            self.stop()
        if task.kwargs.get("exit"):
            sys.exit(task.kwargs["exit"])
        if task.kwargs.get("hog"):
            hog = bytearray(task.kwargs["hog"])
            for _ in range(200):
                time.sleep(0.05)
            with open({ran!r}, "a") as ran:
                ran.write(json.dumps([os.getpid(), {{"survived": len(hog)}}]) + "\\n")

    def on_starvation(self, time_with_no_tasks):
        self.stop()
"""


def _supervise(ctx, tasks, max_tasks_per_run, *arguments):
    """Push ``tasks``, run the supervisor with ``arguments``; its exit code and the runs."""
    directory = os.path.join(ctx.scratch, ctx.behaviour_name)
    os.makedirs(directory)
    ran = os.path.join(directory, "ran.jsonl")
    connector = json.dumps({"type": ctx.connector_type, "params": ctx.params})
    source = "import json\n" + textwrap.dedent(WORKER_MODULE).format(
        connector=connector, name=ctx.name(), max_tasks_per_run=max_tasks_per_run, ran=ran
    )
    with open(os.path.join(directory, "consumer.py"), "w") as module:
        module.write(source)
    sys.path.insert(0, directory)
    try:
        import consumer
    finally:
        sys.path.remove(directory)
        sys.modules.pop("consumer", None)
    producer = consumer.Worker()
    producer.init_broker()
    producer.purge_tasks()
    if tasks:
        producer.push_tasks(kwargs_list=tasks)
    env = dict(os.environ, PYTHONPATH=directory)
    with open(os.path.join(directory, "supervisor.log"), "w") as log:
        completed = subprocess.run(
            [sys.executable, "-m", "sergeant.supervisor", *arguments],
            cwd=directory,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
    runs = []
    if os.path.exists(ran):
        with open(ran) as lines:
            runs = [json.loads(line) for line in lines]
    return completed.returncode, runs, producer


@behaviour()
def supervisor_replaces_workers_after_max_tasks_per_run(ctx):
    tasks = [{"n": n} for n in range(6)]
    # --concurrent-worker: the spelling of Sergeant's documentation examples.
    code, runs, producer = _supervise(
        ctx,
        tasks,
        2,
        "--worker-module=consumer",
        "--worker-class=Worker",
        "--concurrent-worker=1",
    )
    return {
        "exit_code": code,
        "ran": sorted(kwargs["n"] for _, kwargs in runs),
        "processes_that_ran_tasks": len({pid for pid, _ in runs}),
        "left": producer.number_of_enqueued_tasks(include_delayed=True),
    }


@behaviour("local")
def stop_in_one_worker_stops_the_supervisor(ctx):
    code, runs, _ = _supervise(
        ctx,
        [{"stop": True}],
        0,
        "--worker-module=consumer",
        "--worker-class=Worker",
        "--concurrent-workers=2",
    )
    return {"exit_code": code, "ran": [kwargs for _, kwargs in runs]}


@behaviour("local")
def worker_over_max_worker_memory_usage_is_replaced(ctx):
    code, runs, _ = _supervise(
        ctx,
        [{"hog": 300 * 1024 * 1024}],
        0,
        "--worker-module=consumer",
        "--worker-class=Worker",
        "--concurrent-workers=1",
        f"--max-worker-memory-usage={100 * 1024 * 1024}",
    )
    return {"exit_code": code, "ran": [kwargs for _, kwargs in runs]}


@behaviour("local")
def task_calling_sys_exit_3(ctx):
    """3 is the code of "worker class not found" between a worker and its supervisor."""
    code, runs, producer = _supervise(
        ctx,
        [{"exit": 3}, {"n": 1}, {"n": 2}],
        0,
        "--worker-module=consumer",
        "--worker-class=Worker",
        "--concurrent-workers=1",
    )
    return {
        "exit_code": code,
        "ran": [kwargs for _, kwargs in runs],
        "left": producer.number_of_enqueued_tasks(include_delayed=True),
    }


@behaviour("local")
def unknown_worker_module(ctx):
    code, runs, _ = _supervise(
        ctx,
        [],
        0,
        "--worker-module=no_such_module",
        "--worker-class=Worker",
        "--concurrent-workers=1",
    )
    return {"exit_code": code, "ran": runs}


@behaviour("local")
def unknown_worker_class(ctx):
    code, runs, _ = _supervise(
        ctx,
        [],
        0,
        "--worker-module=consumer",
        "--worker-class=NoSuchWorker",
        "--concurrent-workers=1",
    )
    return {"exit_code": code, "ran": runs}


if __name__ == "__main__":
    main()
