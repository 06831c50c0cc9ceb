"""The harness every scenario script runs on, under Sergeant 0.27.0 or under ours.

A scenario module (``scenario_*.py`` beside this file) imports its helpers from
here and is run as ``__main__`` by a short ``python -c`` program (see
``tests/compat/runner.py``) whose ``sys.argv[1]`` is a JSON spec: the backend (``local``, ``redis``,
``redis2`` for two nodes), its connector params, a namespace that keeps this
run's queues, keys and locks apart from every other run's, and the file to write
the results to. Each function registered with :func:`behaviour` runs once and
its return value, made of plain JSON values, is the result compared with the
other implementation's. A behaviour that raises is recorded as an error, which
no comparison accepts.

Only Sergeant's documented API may be used here (``import sergeant`` and the
names it documents): the same source must run under both implementations.
"""

import json
import sys
import time
import traceback

import sergeant

BEHAVIOURS = {}

#: The exception classes a result may say an error is an instance of: users catch
#: these, so both implementations must agree on them (their own names may differ).
CATCHABLE = (
    "TypeError",
    "ValueError",
    "KeyError",
    "LookupError",
    "AttributeError",
    "ImportError",
    "ModuleNotFoundError",
    "RuntimeError",
    "OSError",
    "Exception",
)


def behaviour(*backends):
    """Register a behaviour to run on ``backends`` (default: local and redis)."""

    def register(function):
        BEHAVIOURS[function.__name__] = (function, backends or ("local", "redis"))
        return function

    return register


class Context:
    """What a behaviour knows about its run."""

    def __init__(self, spec, behaviour_name):
        self.backend = spec["backend"]
        self.connector_type = spec["type"]
        self.params = spec["params"]
        self.namespace = spec["namespace"]
        self.scratch = spec["scratch"]
        self.behaviour_name = behaviour_name
        self._overrides = spec.get("overrides", {}).get(behaviour_name, {})

    def name(self, suffix=""):
        """A queue, key or lock name of this behaviour alone."""
        base = f"{self.namespace}.{self.behaviour_name}"
        return f"{base}.{suffix}" if suffix else base

    def connector_config(self):
        """``sergeant.config.Connector`` as Sergeant's documentation writes it."""
        return sergeant.config.Connector(type=self.connector_type, params=dict(self.params))

    def connector(self):
        """A live connector, built the way Sergeant's worker builds one."""
        module = getattr(sergeant.connector, self.connector_type)
        return module.Connector(**self.params)

    def connector_of_node(self, index):
        """A live redis connector on node ``index`` alone (of a several-node run)."""
        return sergeant.connector.redis.Connector(nodes=[self.params["nodes"][index]])

    def overrides(self):
        """``WorkerConfig`` fields the run sets for this behaviour (only runs of ours get
        any: settings of ours that restore Sergeant's behaviour, or shorten a wait)."""
        fields = dict(self._overrides)
        if "connector" in fields:
            fields["connector"] = sergeant.config.Connector(**fields["connector"])
        if "encoder" in fields:
            fields["encoder"] = sergeant.config.Encoder(**fields["encoder"])
        return fields

    def worker_config(self, **fields):
        """A ``WorkerConfig`` named after this behaviour, on this run's storage, with the
        run's :meth:`overrides`."""
        fields.setdefault("name", self.name())
        fields.setdefault("connector", self.connector_config())
        fields.update(self.overrides())
        return sergeant.config.WorkerConfig(**fields)


def raised(call, *args, **kwargs):
    """What calling ``call`` does: its result, or which catchable classes its error is."""
    try:
        result = call(*args, **kwargs)
    except BaseException as error:
        return {"raised": [name for name in CATCHABLE if _is(error, name)]}
    return {"returned": result}


def _is(error, name):
    import builtins

    return isinstance(error, getattr(builtins, name))


def task_view(task):
    """A task as plain values (its creation date only by type: it is a clock reading)."""
    return {
        "class": f"{type(task).__module__}.{type(task).__qualname__}",
        "kwargs": task.kwargs,
        "trace_id": task.trace_id,
        "run_count": task.run_count,
        "date": type(task.date).__name__,
    }


def summary_view(summary):
    """``work_loop``'s summary as plain values: flags, and the classes of its exceptions."""
    view = {}
    for key in ("respawn", "stop"):
        view[key] = summary[key]
    for key in ("initialize_exception", "executor_exception", "finalize_exception"):
        error = summary[key]
        view[key] = None if error is None else type(error).__name__
    view["executor"] = sorted(summary["executor"])
    return view


def run_worker(worker):
    """Run ``worker`` as Sergeant's supervisor runs one: init_worker, then work_loop."""
    worker.init_worker()
    return summary_view(worker.work_loop())


def wait_until(condition, timeout=30.0, interval=0.02):
    """Poll ``condition`` until it is true (or ``timeout`` seconds pass); its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def main():
    spec = json.loads(sys.argv[1])
    only = spec.get("only")
    results = {}
    for name, (function, backends) in BEHAVIOURS.items():
        if spec["backend"] not in backends or (only and name not in only):
            continue
        try:
            results[name] = {"result": function(Context(spec, name))}
        except BaseException as error:
            results[name] = {"error": f"{type(error).__name__}: {error}"[:500]}
            results[name]["traceback"] = traceback.format_exc()[-3000:]
    with open(spec["output"], "w") as output:
        json.dump(results, output, default=repr, sort_keys=True)
