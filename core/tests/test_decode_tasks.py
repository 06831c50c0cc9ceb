"""Decoding a batch of payloads gives, payload by payload, what decoding each alone gives."""

from __future__ import annotations

import datetime
import json

import msgpack
import pytest
from sergeant.encoder import TaskEncoder
from sergeant.errors import TaskDecodeError
from sergeant.task import Task


def alone(encoder: TaskEncoder, payload: bytes) -> Task | str:
    try:
        return encoder.decode_task(payload)
    except TaskDecodeError as exc:
        return f"error: {exc}"


def batch(encoder: TaskEncoder, payloads: list[bytes]) -> list[Task | str]:
    """What the broker makes of a batch: decode_tasks, then decode_task where it said None."""
    return [
        task if task is not None else alone(encoder, payload)
        for payload, task in zip(payloads, encoder.decode_tasks(payloads), strict=True)
    ]


def tasks(encoder: TaskEncoder, count: int) -> list[bytes]:
    return [
        encoder.encode_task(
            Task(kwargs={"n": n, "when": datetime.datetime(2026, 1, 1), "pair": (n, "x")})
        )
        for n in range(count)
    ]


MSGPACK_ODDITIES = {
    "empty": b"",
    "garbage": b"\xc1\xc1\xc1",
    "two values in one payload": msgpack.packb(1) + msgpack.packb(2),
    "the start of a longer value": msgpack.packb({"kwargs": {"n": 1}})[:5],
    "a mapping with no kwargs": msgpack.packb({"date": 1.0}),
    "a list": msgpack.packb([1, 2]),
    "four values that are not a task": msgpack.packb([1, 2, 3, 4]),
    "a task array with a number for trace_id": msgpack.packb([{}, 5, 1.0, 0]),
    "a task array with a str run_count": msgpack.packb([{}, None, 1.0, "0"]),
    "a task with an int date": msgpack.packb(
        {"kwargs": {}, "trace_id": None, "date": 3, "run_count": 0}
    ),
}


@pytest.mark.parametrize("oddity", list(MSGPACK_ODDITIES))
@pytest.mark.parametrize("where", [0, 2, 4])
def test_an_odd_payload_anywhere_in_a_batch_changes_nothing_for_the_others(
    oddity: str, where: int
) -> None:
    encoder = TaskEncoder()
    payloads = tasks(encoder, 4)
    payloads.insert(where, MSGPACK_ODDITIES[oddity])
    assert batch(encoder, payloads) == [alone(encoder, p) for p in payloads]
    decoded = [d for d in batch(encoder, payloads) if isinstance(d, Task)]
    assert [t.kwargs["n"] for t in decoded if "n" in t.kwargs] == [0, 1, 2, 3]


def test_the_fast_path_decodes_every_well_formed_task() -> None:
    encoder = TaskEncoder()
    payloads = tasks(encoder, 50)
    decoded = encoder.decode_tasks(payloads)
    assert all(isinstance(task, Task) for task in decoded)
    assert decoded == [encoder.decode_task(p) for p in payloads]
    seventh = decoded[7]
    assert seventh is not None
    assert seventh.kwargs == {"n": 7, "when": datetime.datetime(2026, 1, 1), "pair": (7, "x")}
    assert seventh.run_count == 0


@pytest.mark.parametrize(
    ("serializer", "compressor"), [("json", None), ("msgpack", "zlib"), ("pickle", None)]
)
def test_other_encodings_fall_back_to_decoding_one_by_one(
    serializer: str, compressor: str | None
) -> None:
    encoder = TaskEncoder(serializer=serializer, compressor=compressor)
    payloads = [encoder.encode_task(Task(kwargs={"n": n})) for n in range(3)] + [b"junk"]
    assert encoder.decode_tasks(payloads) == [None] * 4
    result = batch(encoder, payloads)
    assert [t.kwargs for t in result[:3] if isinstance(t, Task)] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert isinstance(result[3], str)
    assert result[3].startswith("error: cannot decode")


def test_a_batch_bigger_than_the_stream_limit_is_decoded_payload_by_payload(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    encoder = TaskEncoder()
    payloads = tasks(encoder, 3)
    monkeypatch.setattr("sergeant.encoder._STREAM_BYTES", sum(map(len, payloads)) - 1)
    assert encoder.decode_tasks(payloads) == [None] * 3
    assert batch(encoder, payloads) == [encoder.decode_task(p) for p in payloads]
    monkeypatch.setattr("sergeant.encoder._STREAM_BYTES", sum(map(len, payloads)))
    assert encoder.decode_tasks(payloads) == [encoder.decode_task(p) for p in payloads]


def test_msgpack_stores_a_task_as_an_array_and_reads_the_mapping_form_too() -> None:
    encoder = TaskEncoder()
    task = Task(kwargs={"n": 1}, trace_id="t-1", date=12.5, run_count=3)
    stored = encoder.encode_task(task)
    assert msgpack.unpackb(stored) == [{"n": 1}, "t-1", 12.5, 3]
    mapping = msgpack.packb({"kwargs": {"n": 1}, "trace_id": "t-1", "date": 12.5, "run_count": 3})
    assert encoder.decode_tasks([stored, mapping, stored]) == [task, task, task]
    assert encoder.decode_task(mapping) == task
    from_int_date = encoder.decode_task(msgpack.packb([{"n": 1}, "t-1", 12, 3]))
    assert from_int_date == Task(kwargs={"n": 1}, trace_id="t-1", date=12.0, run_count=3)


def test_json_stores_a_task_as_the_mapping_any_language_writes() -> None:
    encoder = TaskEncoder(serializer="json")
    task = Task(kwargs={"n": 1}, trace_id=None, date=12.5, run_count=0)
    stored = encoder.encode_task(task)
    mapping = {"kwargs": {"n": 1}, "trace_id": None, "date": 12.5, "run_count": 0}
    assert json.loads(stored) == mapping
    assert encoder.decode_task(stored) == task
    assert encoder.decode_task(b'[{"n": 1}, null, 12.5, 0]') == task


def test_an_array_that_is_not_a_task_says_what_a_task_is() -> None:
    encoder = TaskEncoder()
    with pytest.raises(TaskDecodeError, match=r"\[kwargs, trace_id, date, run_count\]"):
        encoder.decode_task(msgpack.packb([1, 2, 3, 4]))
