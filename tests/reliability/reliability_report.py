"""Scenario outcomes, written by the reliability tests and read by ``render.py``.

Tests import it as ``from reliability_report import Outcome, record``.
Every scenario calls :func:`record` once per backend with its counts, then
asserts its verdict, so CI fails on a broken invariant and ``docs/reliability.md``
shows the figures of the last run either way.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["Outcome", "record", "results_dir"]


def results_dir() -> Path:
    """Where outcomes go: ``$SERGEANT_TEST_RELIABILITY_DIR`` or ``<repo>/.cache/reliability``."""
    configured = os.environ.get("SERGEANT_TEST_RELIABILITY_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / ".cache" / "reliability"


@dataclass
class Outcome:
    """One row of the reliability table.

    :ivar scenario: e.g. ``"1. worker kill storm"`` (the number orders the table).
    :ivar backend: ``local``, ``redis (3 nodes)``, ``mongo``...
    :ivar load: what ran, e.g. ``"20,000 tasks, 4 workers"``.
    :ivar faults: what was injected, e.g. ``"38 SIGKILLs, one every 0.5 s"``.
    :ivar lost: tasks (or items) lost; ``None`` where the scenario counts none.
    :ivar duplicates: tasks run more than once; ``None`` where not applicable.
    :ivar verdict: ``pass`` when every invariant held.
    :ivar details: other figures (drain time, throughput during outage...).
    """

    scenario: str
    backend: str
    load: str
    faults: str
    lost: int | None
    duplicates: int | None
    verdict: Literal["pass", "fail"]
    details: str = ""
    figures: dict[str, float | int | str] = field(default_factory=dict)


def record(outcome: Outcome) -> Outcome:
    """Write ``outcome`` for the report (one file per scenario and backend)."""
    folder = results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", f"{outcome.scenario} {outcome.backend}".lower()).strip("-")
    (folder / f"{slug}.json").write_text(json.dumps(asdict(outcome), indent=2) + "\n")
    return outcome
