"""A stored dead-letter entry is read as one only if its fields have their types.

``bytes(n)`` of an int is n zero bytes: an entry of 20 bytes whose payload is
the number 300,000,000 became 300 MB of zeros, which ``sergeant dead requeue``
would have pushed onto the queue.
"""

from __future__ import annotations

import msgpack
import pytest
from sergeant.broker import DeadLetter

GOOD = {"queue": "q", "reason": "r", "payload": b"task", "deliveries": 2, "date": 1.0}


def test_a_well_formed_entry_reads_back() -> None:
    entry = DeadLetter.decode(msgpack.packb(GOOD), "q")
    assert (entry.reason, entry.payload, entry.deliveries) == ("r", b"task", 2)


@pytest.mark.parametrize(
    ("field", "value"),
    [("payload", 300_000_000), ("payload", [1, 2]), ("payload", "text"), ("deliveries", 1e300)],
)
def test_a_field_of_another_type_is_shown_as_not_an_entry(field: str, value: object) -> None:
    data = msgpack.packb({**GOOD, field: value})
    entry = DeadLetter.decode(data, "q")
    assert entry.reason == "not a dead-letter entry"
    assert entry.payload == data  # the stored bytes, kept as they are
