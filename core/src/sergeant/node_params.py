"""Reading a connector's ``nodes`` param: a list of mappings, one per server.

A backend spread over independent servers (see :mod:`sergeant.nodes`) takes
``nodes=[{'host': ..., 'port': ...}, ...]`` and describes one entry as a frozen
attrs class with a ``name`` field. :func:`build_nodes` builds every entry with
:func:`~sergeant.validation.build_params` and checks the list as a whole, so
every error names the entry it is about, as users wrote it::

    from sergeant.node_params import build_nodes

    nodes = build_nodes(NodeParams, params["nodes"], example="{'host': ..., 'port': ...}",
                        identity=lambda node: f"{node.host}:{node.port}")

It refuses: a ``nodes`` that is not a list of entries, or is empty; an entry
that is not a mapping; a bad field (``nodes[1].port``; a value the field's
validator hid, a secret's, stays hidden); an unknown one (``nodes[1]['hots']``,
with a suggestion); the same server listed twice (by ``identity``); two entries
with the same name (:func:`sergeant.nodes.node_names`). :func:`within` names an
error's field inside an entry, for backends that check more on their own.

Any other list of servers in the params reads the same way: pass ``field``
(``'sentinel.nodes'``) and ``what`` (``'sentinel'``) for the messages; entries
without a ``name`` field are only checked for being listed twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Set
from typing import Any, TypeVar

import attrs

from sergeant.errors import ConfigError
from sergeant.nodes import node_names
from sergeant.validation import build_params

__all__ = ["build_nodes", "within"]


N = TypeVar("N")


def within(where: str, error: ConfigError) -> ConfigError:
    """``error`` with its field named inside ``where`` (``port`` in ``nodes[1]`` becomes
    ``nodes[1].port``), its value shown exactly as before (hidden if it was).
    An error already naming a field of ``where`` is returned as it is."""
    if error.field == where or error.field.startswith((f"{where}.", f"{where}[")):
        return error
    return ConfigError(f"{where}.{error.field}", None, error.fix, shown=error.shown)


def build_nodes(
    cls: type[N],
    value: Any,
    *,
    example: str,
    identity: Callable[[N], str],
    prepare: Callable[[int, Any], Any] | None = None,
    field: str = "nodes",
    what: str = "node",
) -> tuple[N, ...]:
    """Each entry of the ``nodes`` param ``value`` built as ``cls``, in order.

    :param cls: the attrs class of one entry; a ``name`` field, where it has one,
        names the node (None: its position).
    :param example: one entry as users write it, for the errors.
    :param identity: what makes two entries the same server (shown when refused).
    :param prepare: called with ``(index, entry)`` before the entry is built; returns
        the entry to build (a url turned into a mapping, say) or raises ConfigError,
        which is named within the entry like the build's own.
    :param field: how errors name the list (``'cluster.nodes'``).
    :param what: how errors name one entry (``'sentinel'``).
    :raises ConfigError: naming ``nodes``, ``nodes[i]`` or ``nodes[i].field``.
    """
    # A set has no order, and a node's default name is its position: refused too.
    if isinstance(value, Mapping | Set | str | bytes) or not isinstance(value, Iterable):
        raise ConfigError(field, type(value).__name__, f"pass a list of {what}s like [{example}]")
    nodes: list[N] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(value):
        where = f"{field}[{index}]"
        try:
            entry = entry if prepare is None else prepare(index, entry)
            if not isinstance(entry, Mapping):
                fix = f"each {what} is a mapping like {example}"
                raise ConfigError(where, type(entry).__name__, fix)
            node = build_params(cls, entry, where=where)
        except ConfigError as error:
            raise within(where, error) from None
        key = identity(node)
        if key in seen:
            fix = f"{field}[{seen[key]}] is the same server: each {what} may appear only once"
            raise ConfigError(where, key, fix)
        seen[key] = index
        nodes.append(node)
    if not nodes:
        raise ConfigError(field, [], f"give at least one {what}")
    if "name" in attrs.fields_dict(cls):  # type: ignore[arg-type]
        # distinct, or ConfigError naming nodes[i].name
        node_names([getattr(node, "name", None) for node in nodes])
    return tuple(nodes)
