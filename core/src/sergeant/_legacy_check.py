"""The start-up check that no task waits, unseen, in Sergeant 0.27.0's layout.

A worker (and ``sergeant stats``) asks its connector once, with a dry run of
:meth:`~sergeant.connector.Connector.migrate_legacy` for its own queues (a count
per node, no scan), and warns with the count and the command that moves them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sergeant.connector import Connector
from sergeant.errors import SergeantError
from sergeant.legacy import MIGRATE_LEGACY

__all__ = ["legacy_counts", "legacy_warning", "warn_once"]

log = logging.getLogger("sergeant.legacy")
_warned: set[tuple[str, str]] = set()


def legacy_counts(connector: Connector, queues: Sequence[str]) -> dict[str, int]:
    """Items of each of ``queues`` still in Sergeant 0.27.0's layout (empty when the
    backend cannot tell, or the check itself failed: it must never stop a worker)."""
    if MIGRATE_LEGACY not in connector.capabilities:
        return {}
    try:
        report = connector.migrate_legacy(list(queues), keys=False, dry_run=True)
    except SergeantError:
        return {}
    return {name: report.queue(name).total for name in queues if report.queue(name).total}


def legacy_warning(queue: str, count: int) -> str:
    """The warning for ``count`` items of ``queue`` left in the old layout."""
    return (
        f"{count} tasks of queue {queue!r} wait in Sergeant 0.27.0's storage layout, where"
        f" this version does not look: move them with `sergeant migrate {queue}` (same"
        " connector config; see docs/upgrading-from-sergeant.md)"
    )


def warn_once(connector: Connector, queue: str, logger: logging.Logger) -> None:
    """Log :func:`legacy_warning` for ``queue`` once per process and connector type,
    on ``logger`` if it shows warnings somewhere (a worker's logs only errors by
    default), else on ``sergeant.legacy`` (which, unconfigured, prints to stderr)."""
    key = (connector.type_name, queue)
    if key in _warned:
        return
    _warned.add(key)
    visible = logger.isEnabledFor(logging.WARNING) and any(
        not isinstance(handler, logging.NullHandler) for handler in logger.handlers
    )
    shown = logger if visible else log
    for name, count in legacy_counts(connector, [queue]).items():
        shown.warning(legacy_warning(name, count))
