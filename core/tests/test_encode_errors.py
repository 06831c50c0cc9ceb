"""A task the serializer cannot carry is refused naming the kwarg at fault.

The error reaches users as a push's exception and as a dead letter's reason
(a retry refused for what it carries); "invalid value to encode: 'list'" named
the task's wire form, not what the user put in it.
"""

from __future__ import annotations

import pytest
from sergeant.encoder import TaskEncoder
from sergeant.errors import EncodeError
from sergeant.task import Task


@pytest.mark.parametrize("serializer", ["msgpack", "json"])
def test_the_first_kwarg_that_cannot_be_encoded_is_named(serializer: str) -> None:
    task = Task(kwargs={"fine": [1, "two"], "error": RuntimeError("boom"), "also": object()})
    with pytest.raises(EncodeError) as caught:
        TaskEncoder(serializer=serializer).encode_task(task)
    message = str(caught.value)
    assert "kwargs['error']" in message
    assert f"{serializer} cannot encode it" in message
    assert "RuntimeError" in message
    assert "plain data" in message


def test_a_whole_number_over_64_bits_is_named_as_such_by_msgpack() -> None:
    with pytest.raises(EncodeError, match=r"kwargs\['big'\].*at most 64 bits"):
        TaskEncoder(serializer="msgpack").encode_task(Task(kwargs={"big": 2**64}))


def test_a_task_that_encodes_is_unchanged_by_the_check() -> None:
    encoder = TaskEncoder(serializer="msgpack")
    task = Task(kwargs={"big": 2**63 - 1, "text": "é"})
    assert encoder.decode_task(encoder.encode_task(task)).kwargs == task.kwargs
