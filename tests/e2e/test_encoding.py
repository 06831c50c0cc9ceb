"""Every serializer and compressor carries a task there and back."""

from __future__ import annotations

import datetime

import pytest
from sergeant.config import Encoder
from sergeant.encoder import COMPRESSORS, TaskEncoder
from sergeant.errors import ConfigError, TaskDecodeError
from sergeant.task import Task

JSON_SAFE = {"to": "a@b.c", "n": 3, "ratio": 0.5, "tags": ["x", "y"], "nested": {"k": None}}


@pytest.mark.parametrize("compressor", [None, *sorted(COMPRESSORS)])
@pytest.mark.parametrize("serializer", ["msgpack", "json", "pickle"])
def test_round_trip(serializer: str, compressor: str | None) -> None:
    encoder = TaskEncoder(serializer, compressor)
    task = Task(kwargs=JSON_SAFE, trace_id="t-1", run_count=2)
    assert encoder.decode_task(encoder.encode_task(task)) == task


def test_msgpack_carries_bytes_tuples_and_datetimes() -> None:
    encoder = TaskEncoder()
    now = datetime.datetime.now()
    aware = datetime.datetime.now(datetime.UTC)
    kwargs = {"blob": b"\x00\xff", "pair": (1, "a"), "when": now, "aware": aware}
    assert encoder.decode_task(encoder.encode_task(Task(kwargs=kwargs))).kwargs == kwargs


def test_compression_shrinks_repetitive_payloads() -> None:
    task = Task(kwargs={"text": "spam " * 1000})
    plain = len(TaskEncoder().encode_task(task))
    assert len(TaskEncoder("msgpack", "zlib").encode_task(task)) < plain / 10


def test_msgpack_is_the_default_and_pickle_must_be_asked_for() -> None:
    assert Encoder().serializer == "msgpack"
    assert TaskEncoder().serializer == "msgpack"


def test_garbage_is_a_task_decode_error() -> None:
    with pytest.raises(TaskDecodeError, match="cannot decode"):
        TaskEncoder().decode_task(b"\xc1garbage")
    with pytest.raises(TaskDecodeError, match="not a task"):
        TaskEncoder().decode_task(TaskEncoder().encode([1, 2]))
    with pytest.raises(TaskDecodeError):
        TaskEncoder("msgpack", "zlib").decode_task(b"not zlib")


def test_a_value_the_serializer_cannot_carry_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="json cannot encode"):
        TaskEncoder("json").encode_task(Task(kwargs={"blob": b"x"}))


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [("Encoder.serializer", {"serializer": "yaml"}), ("Encoder.compressor", {"compressor": "zip"})],
)
def test_unknown_serializer_or_compressor_names_the_field(
    field: str, kwargs: dict[str, str]
) -> None:
    with pytest.raises(ConfigError, match=field):
        Encoder(**kwargs)
