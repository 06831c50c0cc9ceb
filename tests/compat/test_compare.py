"""Each documented behaviour of Sergeant 0.27.0, run under it and under ours, compared.

A scenario script (``scenarios/``) runs under both implementations on the same
backend; for every behaviour the two results must be equal, or be exactly the
difference ``differences.py`` documents for that behaviour and backend (each is
listed on docs/coming-from-sergeant.md). A documented difference that is no
longer exactly there fails too, so the table and the page cannot go stale.
Where the page gives a setting that restores Sergeant's behaviour, ours run
with that setting must return exactly what Sergeant returned.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from differences import expected_difference
from runner import Behaviour, Runs, behaviours, comparisons

RESTORABLE = [
    (behaviour, backend)
    for behaviour, backend in comparisons()
    if (difference := expected_difference(behaviour.key, backend)) is not None
    and difference.topic.restore_fields
]


def _shown(outcome: Any) -> str:
    return json.dumps(outcome, indent=1, sort_keys=True, default=repr)


def _result(results: dict[str, Any], behaviour: Behaviour, who: str) -> Any:
    outcome = results[behaviour.name]
    assert "error" not in outcome, f"{behaviour.key} raised under {who}:\n{_shown(outcome)}"
    return outcome["result"]


def _ids(pairs: list[tuple[Behaviour, str]]) -> list[str]:
    return [f"{behaviour.key}-{backend}" for behaviour, backend in pairs]


@pytest.mark.parametrize("comparison", comparisons(), ids=_ids(comparisons()))
def test_behaviour(comparison: tuple[Behaviour, str], runs: Runs) -> None:
    behaviour, backend = comparison
    original = _result(
        runs.results("original", behaviour.scenario, backend), behaviour, "Sergeant 0.27.0"
    )
    ours = _result(runs.results("ours", behaviour.scenario, backend), behaviour, "ours")
    difference = expected_difference(behaviour.key, backend)
    if difference is None:
        assert ours == original, (
            f"Sergeant 0.27.0 gave {_shown(original)}\nours gave {_shown(ours)}\n"
            "fix ours, or document the difference in tests/compat/differences.py"
            " and docs/coming-from-sergeant.md"
        )
    else:
        assert (original, ours) == (difference.original, difference.ours), (
            f"documented difference {difference.topic.title!r} is no longer exactly that:\n"
            f"Sergeant 0.27.0 gave {_shown(original)}\nours gave {_shown(ours)}"
        )


@pytest.mark.parametrize("restoration", RESTORABLE, ids=_ids(RESTORABLE))
def test_restoring_setting(restoration: tuple[Behaviour, str], runs: Runs) -> None:
    behaviour, backend = restoration
    difference = expected_difference(behaviour.key, backend)
    assert difference is not None
    original = _result(
        runs.results("original", behaviour.scenario, backend), behaviour, "Sergeant 0.27.0"
    )
    restored = _result(
        runs.results("restored", behaviour.scenario, backend),
        behaviour,
        f"ours with {difference.topic.restore}",
    )
    assert restored == original, (
        f"{difference.topic.restore} does not restore Sergeant's behaviour:\n"
        f"Sergeant 0.27.0 gave {_shown(original)}\nours with it gave {_shown(restored)}"
    )


def test_every_difference_names_a_compared_behaviour() -> None:
    from differences import DIFFERENCES

    compared = {(behaviour.key, backend) for behaviour, backend in comparisons()}
    stale = [
        (difference.behaviour, backend)
        for difference in DIFFERENCES
        for backend in difference.backends
        if (difference.behaviour, backend) not in compared
    ]
    assert not stale, f"differences of behaviours or backends never compared: {stale}"


def test_behaviour_names_are_unique() -> None:
    keys = [behaviour.key for behaviour in behaviours()]
    assert len(keys) == len(set(keys))
