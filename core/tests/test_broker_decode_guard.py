"""Whatever a decoder raises, the broker turns a payload into a reason, never a crash."""

from __future__ import annotations

from minimal_connector import build
from sergeant.broker import Broker
from sergeant.encoder import TaskEncoder
from sergeant.task import Task


class Surprising(TaskEncoder):
    """An encoder whose decoder fails in a way no TaskDecodeError covers."""

    def decode_task(self, data: bytes) -> Task:
        raise RuntimeError(f"surprise at {len(data)} bytes")


def test_an_unexpected_decoder_error_becomes_the_reason() -> None:
    broker = Broker(build("guard")(), Surprising())  # decoding calls no storage
    (reserved,) = broker.decode_batch([(b"\xc1", "r-1", 1)])
    assert reserved.task is None
    assert reserved.error == "cannot decode the payload: RuntimeError: surprise at 1 bytes"
