"""Fixtures for the core tests: real distributions written to a temporary sys.path entry."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

MakeDist = Callable[..., str]

CONNECTOR_SOURCE = """
import sergeant
from minimal_connector import build

Connector = build({type_name!r})

@sergeant.hookimpl
def sergeant_register_connectors(registry):
    registry.add_connector(Connector)
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh folder on sys.path where tests install distributions (dist-info + modules)."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    before = set(sys.modules)
    yield root
    for name in set(sys.modules) - before:
        if name.startswith("plug_"):
            del sys.modules[name]


@pytest.fixture
def make_dist(site: Path) -> MakeDist:
    """Install a distribution into ``site``; returns the plugin module's name.

    ``make_dist('acme-queue', '1.2.0', type_name='acme')`` writes a module that
    registers a working connector of type ``acme``; pass ``source=`` for a
    module of your own (``{type_name!r}`` is filled in).
    """

    def make(name: str, version: str, *, type_name: str, source: str = CONNECTOR_SOURCE) -> str:
        module = f"plug_{uuid.uuid4().hex[:10]}"
        (site / f"{module}.py").write_text(textwrap.dedent(source.format(type_name=type_name)))
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[sergeant.connectors]\n{type_name} = {module}\n")
        return module

    return make
