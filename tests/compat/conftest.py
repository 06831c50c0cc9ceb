"""Fixtures of the compatibility suite: the storage each run uses, and the runs of
every scenario under Sergeant 0.27.0, under ours, and under ours with the
settings that restore Sergeant's behaviour.

Every run gets storage of its own: a SQLite file per run for ``local``, a
namespace per run for ``redis`` (one session server) and ``redis2`` (two
session servers, for several-node behaviours). Every run the collected tests
need starts when the first of them asks, a few at a time.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from differences import DIFFERENCES
from runner import OURS_OVERRIDES, Runs
from sergeant_test_support.original import OriginalSergeant

#: Scenario runs at once (each a process).
JOBS = int(os.environ.get("SERGEANT_TEST_COMPAT_JOBS", "4"))


def overrides(impl: str, scenario: str) -> dict[str, dict[str, Any]]:
    """``WorkerConfig`` fields per behaviour of ``scenario`` for a run under ``impl``."""
    if impl == "original":
        return {}
    fields: dict[str, dict[str, Any]] = {}
    for key, values in OURS_OVERRIDES.items():
        if key.startswith(f"{scenario}."):
            fields.setdefault(key.removeprefix(f"{scenario}."), {}).update(values)
    if impl == "restored":
        for difference in DIFFERENCES:
            if difference.behaviour.startswith(f"{scenario}.") and difference.topic.restore_fields:
                name = difference.behaviour.removeprefix(f"{scenario}.")
                fields.setdefault(name, {}).update(difference.topic.restore_fields)
    return fields


def _needed_runs(session: pytest.Session) -> list[tuple[str, str, str]]:
    """The (implementation, scenario, backend) runs the collected tests use, in test order."""
    runs: dict[tuple[str, str, str], None] = {}
    for item in session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        for name, impls in (("comparison", ("original", "ours")), ("restoration", ("restored",))):
            if name in params:
                behaviour, backend = params[name]
                for impl in (*impls, "original"):
                    runs[(impl, behaviour.scenario, backend)] = None
    return list(runs)


@pytest.fixture(scope="session")
def runs(
    request: pytest.FixtureRequest,
    original: OriginalSergeant,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Runs]:
    """Every scenario's results under each implementation and backend, computed once."""
    base = tmp_path_factory.mktemp("compat")
    needed = _needed_runs(request.session)
    backends = {backend for _, _, backend in needed}
    # Session fixtures: started here, on the main thread, before any run needs them.
    one = request.getfixturevalue("redis_server") if "redis" in backends else None
    two = request.getfixturevalue("redis_servers") if "redis2" in backends else None

    def spec_of(impl: str, scenario: str, backend: str) -> dict[str, Any]:
        scratch = base / f"{impl}-{scenario}-{backend}"
        scratch.mkdir()
        if backend == "local":
            connector_type, params = "local", {"file_path": str(scratch / "queue.sqlite3")}
        else:
            servers = [one] if backend == "redis" else two
            if not servers or None in servers:
                raise RuntimeError(f"no redis server was started for {backend}")
            connector_type, params = "redis", {"nodes": [s.node() for s in servers]}
        return {
            "backend": backend,
            "type": connector_type,
            "params": params,
            "namespace": f"compat-{impl}-{uuid.uuid4().hex[:8]}",
            "scratch": str(scratch),
            "output": str(scratch / "results.json"),
            "overrides": overrides(impl, scenario),
        }

    started = Runs(original, spec_of, JOBS)
    started.start(needed)
    try:
        yield started
    finally:
        started.close()
