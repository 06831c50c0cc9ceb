"""How a connector with several nodes names them for hashing keys and locks.

A node's *name* is what rendezvous hashing keys on: its ``name`` param when
given, else its position in ``nodes`` (``'#0'``, ``'#1'``, ...). Never its
host spelling or resolved address: ``localhost`` and ``127.0.0.1`` (or a
url, or a host name that resolves differently on two machines, or a port
mapped by a container runtime) are the same node as long as they sit at the
same place in the list. Processes must therefore list nodes in the same
order, as Sergeant 0.27.0 required too; new nodes go at the end (each then
takes only its share of the names), and a deployment that reorders or removes
nodes names them explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence

from sergeant.errors import ConfigError

__all__ = ["node_names"]


def node_names(given: Sequence[str | None]) -> tuple[str, ...]:
    """Each node's hashing name (``given[i]`` or ``'#i'``); all distinct, else ConfigError."""
    names = tuple(f"#{index}" if name is None else name for index, name in enumerate(given))
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in seen:
            raise ConfigError(
                f"nodes[{index}].name",
                name,
                f"nodes[{seen[name]}] is named that too (a node without a name is named "
                "by its position, '#<index>'); give each node its own name",
            )
        seen[name] = index
    return names
