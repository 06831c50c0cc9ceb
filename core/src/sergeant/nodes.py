"""Multi-node machinery for connectors that spread over independent servers.

A connector whose ``nodes`` param lists several independent servers (not a
cluster: each holds its own share of the items, keys and locks) needs the same
few things whatever its storage is. They live here, written once:

Identity
    :func:`node_names` gives each node its *name*: its ``name`` param when
    given, else its position in ``nodes`` (``'#0'``, ``'#1'``, ...). Never its
    host as spelled or its resolved address: ``localhost`` and ``127.0.0.1``
    (or a url, or a host name that resolves differently on two machines, or a
    port mapped by a container runtime) are the same node as long as they sit
    at the same place in the list. Processes must therefore list nodes in the
    same order, as Sergeant 0.27.0 required too; new nodes go at the end (each
    then takes only its share of the names), and a deployment that reorders or
    removes nodes names them explicitly.

Placement
    :func:`rendezvous` picks the node that holds a key or a lock: rendezvous
    (highest random weight) hashing of ``(node name, key)``. Adding a node
    moves only the keys that now score highest on it (about ``1/len(nodes)``
    of them); nothing else moves. The rule is part of every deployment's
    stored data (a key set by one version must be found by the next), so it
    never changes: BLAKE2b with an 8-byte digest of ``name + NUL + key``
    (UTF-8), read as a big-endian integer; the highest wins, the first listed
    on a tie.

Health
    Each node keeps a :class:`Health`: a node that failed (refused, reset, timed
    out) is *down* for a back-off given by a :class:`Backoff` (doubling per
    failure up to a limit) and is up again at the first call that reaches it.
    Queue operations skip nodes that are down; keys and locks, which live on one
    node, fail on it with the backend's error naming the node.

Rotation and visits
    :class:`Rotation` hands out turns round-robin: :meth:`Rotation.next` is the
    node in turn (a push goes there), :meth:`Rotation.order` every node starting
    from the one in turn, nodes that are down last. :func:`visit` calls nodes in
    such an order, yielding each answer: the caller stops when it has enough (a
    pop that got its item) or reads all (a length summed over nodes). Nodes that
    are down are skipped once one node has answered, and tried only if none
    has; when none answers, the call fails with the backend's error naming
    every node's failure. :func:`gather` collects one answer per node for views
    such as stats and queue names, tolerating nodes that cannot answer.

A backend's node object needs only a ``health`` attribute (:class:`Member`);
its calls raise :class:`~sergeant.errors.ConnectorUnavailableError` (or a
subclass the backend names) when the node cannot be reached, after marking it
down with :meth:`Health.failed`, and mark it up with :meth:`Health.succeeded`
when a call returns.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Generic, Protocol, TypeVar

import attrs

from sergeant.errors import ConfigError, ConnectorUnavailableError

__all__ = [
    "Backoff",
    "Health",
    "Member",
    "Rotation",
    "gather",
    "node_names",
    "rendezvous",
    "visit",
]

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)

#: Failures counted at most: the back-off has reached its limit long before.
_MAX_FAILURES = 64


# Identity ------------------------------------------------------------------


def node_names(given: Sequence[str | None]) -> tuple[str, ...]:
    """Each node's name for hashing: ``given[i]``, or ``'#i'`` where it is None.

    :param given: the ``name`` param of each node, in ``nodes`` order.
    :raises ConfigError: two nodes end up with the same name (``nodes[i].name``).
    """
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


# Placement -----------------------------------------------------------------


def _weight(name: str, key: str) -> int:
    digest = hashlib.blake2b(f"{name}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rendezvous(names: Sequence[str], key: str) -> int:
    """The index in ``names`` (from :func:`node_names`) of the node that holds ``key``."""
    if len(names) == 1:
        return 0
    return max(range(len(names)), key=lambda index: _weight(names[index], key))


# Health --------------------------------------------------------------------


@attrs.frozen
class Backoff:
    """How long a node that failed sits out: ``first`` seconds after one
    failure, multiplied by ``factor`` per further failure, at most ``limit``."""

    first: float
    limit: float
    factor: float = 2.0

    def delay(self, failures: int) -> float:
        """Seconds a node with ``failures`` failures in a row stays down."""
        steps = min(max(failures, 1), _MAX_FAILURES) - 1
        return float(min(self.first * self.factor**steps, self.limit))


class Health:
    """Whether one node is up, for the threads that share it.

    Reads are lock-free (an attribute read); marking is guarded so that two
    threads failing at once count two failures.
    """

    __slots__ = ("_guard", "backoff", "down_until", "failures")

    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff
        #: ``time.monotonic()`` until which the node is down (0.0: up).
        self.down_until = 0.0
        #: Failures since the node last answered.
        self.failures = 0
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"Health(failures={self.failures}, down={self.is_down()})"

    def is_down(self, now: float | None = None) -> bool:
        """True while the node sits out its back-off (``now``: ``time.monotonic()``)."""
        return self.down_until > (time.monotonic() if now is None else now)

    def failed(self, now: float | None = None) -> float:
        """Count a failure and put the node down; returns the seconds it is down for."""
        with self._guard:
            self.failures = min(self.failures + 1, _MAX_FAILURES)
            delay = self.backoff.delay(self.failures)
            self.down_until = (time.monotonic() if now is None else now) + delay
        return delay

    def succeeded(self) -> None:
        """The node answered: it is up (cheap when it already was)."""
        if self.failures:
            with self._guard:
                self.failures, self.down_until = 0, 0.0


class Member(Protocol):
    """What this module needs of a backend's node: its :class:`Health`."""

    @property
    def health(self) -> Health: ...


N = TypeVar("N", bound=Member)


# Rotation ------------------------------------------------------------------


class Rotation(Generic[N]):
    """Round-robin turns over a fixed list of nodes, shared by a connector's threads.

    :param nodes: the connector's nodes, in ``nodes`` order.
    :param start: the first turn; by default a random one, so that processes
        started together do not all push to the first node first.
    """

    def __init__(self, nodes: Sequence[N], start: int | None = None) -> None:
        self.nodes: list[N] = list(nodes)
        if start is None:
            start = int.from_bytes(os.urandom(2), "big")
        self._turn = itertools.count(start)

    def next(self) -> N:
        """The node whose turn it is (each call takes one turn)."""
        nodes = self.nodes
        return nodes[next(self._turn) % len(nodes)]

    def order(self, later: Callable[[N], bool] | None = None, now: float | None = None) -> list[N]:
        """Every node once, starting from the next in turn (each call takes one turn).

        Nodes that are down come last; among the up ones and among the down
        ones, those ``later`` says (a node just found empty for a queue, say)
        come after the rest. Otherwise the rotated order is kept.
        """
        nodes = self.nodes
        if len(nodes) == 1:
            return list(nodes)
        start = next(self._turn) % len(nodes)
        order = nodes[start:] + nodes[:start]
        when = time.monotonic() if now is None else now
        if any(node.health.down_until > when for node in order) or (
            later is not None and any(later(node) for node in order)
        ):
            if later is None:
                order.sort(key=lambda node: node.health.down_until > when)
            else:
                order.sort(key=lambda node: (node.health.down_until > when, later(node)))
        return order


# Visits --------------------------------------------------------------------


def _none_answered(failures: Sequence[BaseException]) -> Exception:
    reasons = "; ".join(str(exc) for exc in failures) or "no node was tried"
    return ConnectorUnavailableError(f"no node answered: {reasons}")


def visit(
    order: Iterable[N],
    call: Callable[[N], T],
    *,
    unavailable: type[E] = ConnectorUnavailableError,  # type: ignore[assignment]
    error: Callable[[list[E]], Exception] = _none_answered,
    answered: bool = False,
    skip_down: bool = True,
    on_failure: Callable[[E], None] | None = None,
) -> Iterator[tuple[N, T]]:
    """Yield ``(node, call(node))`` for each node of ``order`` that answers.

    Lazy: the caller stops iterating once it has enough, and the nodes after
    are never called.

    :param order: the nodes to try, usually :meth:`Rotation.order`.
    :param call: the operation; raises ``unavailable`` when the node cannot be
        reached (any other error propagates at once).
    :param unavailable: the error that means "this node cannot answer now".
    :param error: builds the error raised, once ``order`` is exhausted, when no
        node answered, from every node's failure in turn.
    :param answered: a node already answered for this call (the caller tried
        one first on its own): nodes that are down are skipped from the start.
    :param skip_down: skip nodes that are down once a node has answered
        (False: call every node, as a view that should show a node that came
        back does).
    :param on_failure: called with each node's failure (to log it, say).
    """
    failures: list[E] = []
    for node in order:
        if answered and skip_down and node.health.is_down():
            continue
        try:
            result = call(node)
        except unavailable as exc:
            failures.append(exc)
            if on_failure is not None:
                on_failure(exc)
            continue
        answered = True
        yield node, result
    if not answered:
        raise error(failures)


def gather(
    nodes: Iterable[N],
    call: Callable[[N], T],
    *,
    unavailable: type[E] = ConnectorUnavailableError,  # type: ignore[assignment]
    error: Callable[[list[E]], Exception] = _none_answered,
    skip_down: bool = False,
    every: bool = False,
    on_failure: Callable[[E], None] | None = None,
) -> list[tuple[N, T]]:
    """``(node, call(node))`` for every node of ``nodes`` that answers, in order.

    For views over all nodes (stats, queue names, a length summed over nodes):
    a node that cannot answer is left out (``on_failure`` hears of it) as long
    as one answers; with ``every`` the call fails after trying them all if any
    did not (a delete must not leave a share behind unnoticed). Parameters as
    for :func:`visit`.
    """
    if not every:
        return list(
            visit(
                nodes,
                call,
                unavailable=unavailable,
                error=error,
                skip_down=skip_down,
                on_failure=on_failure,
            )
        )
    results: list[tuple[N, T]] = []
    failures: list[E] = []
    for node in nodes:
        try:
            results.append((node, call(node)))
        except unavailable as exc:
            failures.append(exc)
            if on_failure is not None:
                on_failure(exc)
    if failures:
        raise error(failures)
    return results
