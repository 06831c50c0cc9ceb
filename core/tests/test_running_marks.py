"""Running marks are advice: storage that cannot be reached degrades them to a warning.

A worker re-running a redelivered task marks it in storage. With several nodes,
the mark's key may live on a node that is down while the task's queue is not;
the task must still run (alone, unmarked), and the worker must not report an
error for a fault it handled.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import pytest
from sergeant.connector import Connector
from sergeant.errors import ConnectorUnavailableError
from sergeant.executor._isolate import RunningMarks


class Keys(Connector):
    """Keys in a dict, or every key call failing as an unreachable node does."""

    type_name: ClassVar[str] = "keys"
    capabilities: ClassVar[frozenset[str]] = frozenset({"queue", "keys"})

    def __init__(self, *, down: bool) -> None:
        self.down = down
        self.keys: dict[str, bytes] = {}

    def _reach(self) -> None:
        if self.down:
            raise ConnectorUnavailableError("node 127.0.0.1:1 (nodes[1]) is unreachable")

    def do_key_set(self, key: str, value: bytes) -> bool:
        self._reach()
        if key in self.keys:
            return False
        self.keys[key] = value
        return True

    def do_key_get(self, key: str) -> bytes | None:
        self._reach()
        return self.keys.get(key)

    def do_key_delete(self, key: str) -> bool:
        self._reach()
        return self.keys.pop(key, None) is not None

    def do_push(self, *args: Any) -> None:
        raise AssertionError("not used")

    def do_pop(self, queue_name: str, count: int) -> list[bytes]:
        raise AssertionError("not used")

    def do_length(self, queue_name: str, include_delayed: bool) -> int:
        raise AssertionError("not used")

    def do_delete(self, queue_name: str) -> bool:
        raise AssertionError("not used")

    def close(self) -> None:
        """Nothing to close."""


LOGGER = logging.getLogger("marks-test")


def test_a_mark_is_set_once_and_cleared() -> None:
    connector = Keys(down=False)
    marks = RunningMarks(connector, "q", LOGGER)
    assert marks.mark(b"task") is True
    assert marks.mark(b"task") is False, "a second mark must report the first"
    marks.clear(b"task")
    assert connector.keys == {}


def test_an_unreachable_mark_lets_the_task_run_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    marks = RunningMarks(Keys(down=True), "q", LOGGER)
    with caplog.at_level(logging.DEBUG, logger=LOGGER.name):
        assert marks.mark(b"task") is True, "an unmarked task must run alone, not wait as culprit"
        marks.clear(b"task")
    levels = [record.levelno for record in caplog.records]
    assert levels == [logging.WARNING, logging.WARNING], caplog.text
    assert "runs alone unmarked" in caplog.records[0].getMessage()
    assert "unreachable" in caplog.records[1].getMessage()
