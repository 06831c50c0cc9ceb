"""Find the scenario behaviours and run a scenario under Sergeant 0.27.0 and under ours.

Each ``scenarios/scenario_<name>.py`` registers behaviours with
``@behaviour(*backends)``; they are listed here by reading the source (no
import), so a test exists per behaviour and backend before anything runs. A
scenario runs once per implementation and backend, in a process of its own,
and writes every behaviour's result to a JSON file.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sergeant_test_support.original import OriginalSergeant

SCENARIOS = Path(__file__).parent / "scenarios"
#: Backends a behaviour runs on unless its decorator names others.
DEFAULT_BACKENDS = ("local", "redis")
#: Seconds one scenario may take under one implementation.
SCENARIO_TIMEOUT = 300.0

Results = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Behaviour:
    """One documented behaviour: a function of a scenario module."""

    scenario: str
    name: str
    backends: tuple[str, ...]

    @property
    def key(self) -> str:
        """``<scenario>.<behaviour>``, as the differences table names it."""
        return f"{self.scenario}.{self.name}"


def scenario_path(scenario: str) -> Path:
    return SCENARIOS / f"scenario_{scenario}.py"


def behaviours() -> list[Behaviour]:
    """Every registered behaviour of every scenario, in source order."""
    found = []
    for path in sorted(SCENARIOS.glob("scenario_*.py")):
        scenario = path.stem.removeprefix("scenario_")
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and isinstance(decorator.func, ast.Name)
                    and decorator.func.id == "behaviour"
                ):
                    backends = tuple(ast.literal_eval(arg) for arg in decorator.args)
                    found.append(Behaviour(scenario, node.name, backends or DEFAULT_BACKENDS))
    return found


def comparisons() -> list[tuple[Behaviour, str]]:
    """Every (behaviour, backend) pair compared."""
    return [(b, backend) for b in behaviours() for backend in b.backends]


def bootstrap(scenario: str) -> str:
    """The ``python -c`` program that runs ``scenario`` as ``__main__``."""
    path = scenario_path(scenario)
    return (
        "import runpy, sys\n"
        f"sys.path.insert(0, {str(path.parent)!r})\n"
        f"runpy.run_path({str(path)!r}, run_name='__main__')\n"
    )


def _read(output: Path, completed: subprocess.CompletedProcess[str], who: str) -> Results:
    if completed.returncode != 0 or not output.exists():
        raise AssertionError(
            f"scenario under {who} exited {completed.returncode}:\n"
            f"{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}"
        )
    results: Results = json.loads(output.read_text())
    return results


def run_original(original: OriginalSergeant, scenario: str, spec: dict[str, Any]) -> Results:
    """Run ``scenario`` under Sergeant 0.27.0."""
    completed = original.run(
        bootstrap(scenario), json.dumps(spec), timeout=SCENARIO_TIMEOUT, check=False
    )
    return _read(Path(spec["output"]), completed, "Sergeant 0.27.0")


def run_ours(scenario: str, spec: dict[str, Any]) -> Results:
    """Run ``scenario`` under ours: this environment's interpreter, in a process of its own."""
    completed = subprocess.run(
        [sys.executable, "-c", bootstrap(scenario), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=SCENARIO_TIMEOUT,
        check=False,
    )
    return _read(Path(spec["output"]), completed, "ours")


#: Settings of ours that only shorten a wait, per behaviour: a task handed out
#: again comes back after its lease (30 s by default), within the scenario's wait.
OURS_OVERRIDES: dict[str, dict[str, Any]] = {
    "delivery.task_of_a_worker_that_died": {"lease_seconds": 1.0},
}
#: The implementations a scenario runs under: Sergeant 0.27.0, ours, and ours with
#: the settings that restore Sergeant's behaviour where a difference has one.
IMPLEMENTATIONS = ("original", "ours", "restored")


class Runs:
    """Runs each (implementation, scenario, backend) once, a few at a time.

    :param spec_of: builds the spec of one run: ``spec_of(impl, scenario, backend)``.
    """

    def __init__(
        self,
        original: OriginalSergeant,
        spec_of: Callable[[str, str, str], dict[str, Any]],
        jobs: int,
    ) -> None:
        self.original = original
        self.spec_of = spec_of
        self.pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="compat")
        self.runs: dict[tuple[str, str, str], Future[Results]] = {}

    def start(self, runs: Iterable[tuple[str, str, str]]) -> None:
        """Start every (implementation, scenario, backend) of ``runs``."""
        for impl, scenario, backend in runs:
            self._future(impl, scenario, backend)

    def _future(self, impl: str, scenario: str, backend: str) -> Future[Results]:
        key = (impl, scenario, backend)
        if key not in self.runs:
            spec = self.spec_of(impl, scenario, backend)
            if impl == "original":
                self.runs[key] = self.pool.submit(run_original, self.original, scenario, spec)
            else:
                self.runs[key] = self.pool.submit(run_ours, scenario, spec)
        return self.runs[key]

    def results(self, impl: str, scenario: str, backend: str) -> Results:
        """The results of ``scenario`` on ``backend`` under ``impl`` (waiting for them)."""
        return self._future(impl, scenario, backend).result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
