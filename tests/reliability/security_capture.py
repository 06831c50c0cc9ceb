"""Capture everything logged, at DEBUG, by every logger, and search it for secrets.

:class:`DebugCapture` is a context manager: inside it the root logger and every
logger that exists (redis-py's, sergeant's, the worker's...) log at DEBUG to a
handler that keeps each record rendered in full: the formatted line with its
traceback, and the repr of the record's attributes (arguments, extras). Levels,
handlers and propagation are restored on exit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from types import TracebackType

__all__ = ["DebugCapture", "hits"]

_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter(_FORMAT))
        self.texts: list[str] = []
        self.loggers: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.loggers.add(record.name)
        self.texts.append(self.format(record))
        self.texts.append(repr(vars(record)))


class DebugCapture:
    """Every logger at DEBUG into one in-memory handler, for the ``with`` block."""

    def __init__(self) -> None:
        self.handler = _Keep()
        self._saved: list[tuple[logging.Logger, int, bool]] = []

    @property
    def records(self) -> int:
        """How many records were captured."""
        return len(self.handler.texts) // 2

    @property
    def loggers(self) -> set[str]:
        """The names of the loggers that logged."""
        return self.handler.loggers

    @property
    def texts(self) -> list[str]:
        """Each record rendered twice: formatted (with traceback) and its attributes' repr."""
        return self.handler.texts

    def include(self, logger: logging.Logger) -> None:
        """Also capture ``logger`` (one created inside the block, e.g. a worker's)."""
        self._saved.append((logger, logger.level, logger.propagate))
        logger.setLevel(logging.DEBUG)
        if self.handler not in logger.handlers:
            logger.addHandler(self.handler)

    def __enter__(self) -> DebugCapture:
        root = logging.getLogger()
        self._saved.append((root, root.level, root.propagate))
        root.setLevel(logging.DEBUG)
        root.addHandler(self.handler)
        for logger in list(logging.root.manager.loggerDict.values()):
            if isinstance(logger, logging.Logger):
                self._saved.append((logger, logger.level, logger.propagate))
                logger.setLevel(logging.DEBUG)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for logger, level, propagate in reversed(self._saved):
            logger.setLevel(level)
            logger.propagate = propagate
            if logger is not logging.getLogger() and self.handler in logger.handlers:
                logger.removeHandler(self.handler)
        logging.getLogger().removeHandler(self.handler)


def hits(secrets: Iterable[str], texts: Iterable[str]) -> list[str]:
    """The texts in which any of ``secrets`` appears, shortened around the first
    hit, with the secrets masked (so a failure report does not print them)."""
    secrets = [s for s in secrets if s]
    found = []
    for text in texts:
        where = [text.find(secret) for secret in secrets if secret in text]
        if where:
            shown = text[max(min(where) - 120, 0) : min(where) + 120]
            for secret in secrets:
                shown = shown.replace(secret, "<PASSWORD>")
            found.append(shown)
    return found
