"""Core's modules import each other without a cycle.

Every module under ``core/src/sergeant`` is parsed with :mod:`ast` and each import
becomes an edge to the sergeant module it names: module-level imports and
imports inside functions alike (a lazy import hides a cycle, it does not remove
it). Only imports under ``if TYPE_CHECKING:`` are left out: they never run.
``from package import name`` is an edge to ``package.name`` when that is a
module, else to ``package``. A package's ``__init__`` running before its
submodules is not counted as an edge (it would make every subpackage a cycle).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src"
ROOT = "sergeant"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted((SOURCE / ROOT).rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under ``node`` that can run (not in ``if TYPE_CHECKING:``)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _imports(ast.Module(body=[other], type_ignores=[]))
        else:
            yield from _imports(child)


def _base(importer: str, is_package: bool, statement: ast.ImportFrom) -> str:
    if statement.level == 0:
        return statement.module or ""
    package = importer.split(".") if is_package else importer.split(".")[:-1]
    package = package[: len(package) - (statement.level - 1)]
    return ".".join([*package, statement.module] if statement.module else package)


def edges(known: dict[str, Path]) -> dict[str, set[str]]:
    """Each sergeant module and the sergeant modules its runnable imports name."""
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for statement in _imports(tree):
            if isinstance(statement, ast.Import):
                targets = [alias.name for alias in statement.names]
            else:
                base = _base(name, path.name == "__init__.py", statement)
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                    for alias in statement.names
                ]
            graph[name] |= {target for target in targets if target in known and target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None when the graph has none."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def test_the_graph_sees_core_and_its_imports() -> None:
    """The parser finds the modules and the edges it must (else 'no cycle' proves nothing)."""
    graph = edges(modules())
    assert len(graph) > 40
    assert "sergeant.errors" in graph["sergeant.registry"]
    assert "sergeant.worker._worker" in graph["sergeant.worker"]


@pytest.mark.parametrize(
    ("source", "cyclic"),
    [
        ("import b\n", True),
        ("def f():\n    import b\n", True),  # a lazy import is an edge
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import b\n", False),
        ("import typing\nif typing.TYPE_CHECKING:\n    pass\nelse:\n    import b\n", True),
    ],
)
def test_the_cycle_finder_on_a_two_module_graph(
    source: str, cyclic: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / ROOT
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text(source.replace("import b", f"import {ROOT}.b"))
    (package / "b.py").write_text(f"from {ROOT} import a\n")
    monkeypatch.setitem(globals(), "SOURCE", tmp_path)
    found = find_cycle(edges(modules()))
    assert (found is not None) == cyclic, found


def test_core_has_no_import_cycle() -> None:
    cycle = find_cycle(edges(modules()))
    assert cycle is None, "import cycle in core: " + " -> ".join(cycle or [])
