"""Every hookspec is documented for plugin authors, with each parameter (docs cannot drift)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from sergeant import hookspecs

DOC = Path(__file__).resolve().parents[2] / "docs" / "writing-a-connector.md"
SPECS = [
    func
    for name, func in vars(hookspecs).items()
    if name.startswith("sergeant_") and callable(func)
]


def test_there_are_hookspecs() -> None:
    assert {f.__name__ for f in SPECS} >= {"sergeant_register_connectors"}


@pytest.mark.parametrize("spec", SPECS, ids=lambda f: f.__name__)
def test_hookspec_is_documented_with_its_parameters(spec: object) -> None:
    text = DOC.read_text(encoding="utf-8")
    row = next((line for line in text.splitlines() if f"`{spec.__name__}`" in line), None)  # type: ignore[attr-defined]
    assert row is not None, f"{spec.__name__} is missing from {DOC.name}"
    for parameter in inspect.signature(spec).parameters:  # type: ignore[arg-type]
        assert f"`{parameter}`" in row, f"{spec.__name__}'s parameter {parameter} is undocumented"
        assert f":param {parameter}:" in (spec.__doc__ or ""), "the docstring documents it too"
