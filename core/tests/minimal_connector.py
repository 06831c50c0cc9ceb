"""A minimal working connector class factory for registry tests (real code, no mocks)."""

from __future__ import annotations

from typing import Any

from sergeant.connector import BASIC, Connector
from sergeant.connector._capabilities import PRIMITIVES


def build(type_name: str) -> type[Connector]:
    """A connector class for ``type_name`` whose methods are never called by registry tests."""

    def init(self: Any, **params: Any) -> None:
        self.params = params

    namespace: dict[str, Any] = {"type_name": type_name, "__init__": init, "__module__": __name__}
    basic = (name for capability in BASIC for name in PRIMITIVES[capability])
    for name in {*getattr(Connector, "__abstractmethods__", ()), *basic}:
        namespace[name] = lambda self, *a, **k: None
    return type(f"{type_name.title()}Connector", (Connector,), namespace)
