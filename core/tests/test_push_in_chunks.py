"""``push_in_chunks``: a bulk push stored in slices says, when a later slice
fails, exactly how many items the earlier ones stored."""

from __future__ import annotations

import pickle

import pytest
from sergeant.connector import push_in_chunks
from sergeant.errors import ConnectorUnavailableError, PartialPushError, StorageError


class Storage:
    """Keeps what it is given, and refuses from its ``refuse_at``-th call on."""

    def __init__(self, refuse_at: int) -> None:
        self.kept: list[bytes] = []
        self.calls = 0
        self.refuse_at = refuse_at

    def push(self, chunk: list[bytes]) -> None:
        self.calls += 1
        if self.calls >= self.refuse_at:
            raise ConnectorUnavailableError("node a:1 did not answer")
        self.kept.extend(chunk)


ITEMS = [b"%d" % i for i in range(10)]


def test_every_slice_in_order() -> None:
    storage = Storage(refuse_at=99)
    push_in_chunks(ITEMS, 3, storage.push)
    assert storage.kept == ITEMS
    assert storage.calls == 4


def test_a_first_slice_failing_raises_the_storage_error_itself() -> None:
    storage = Storage(refuse_at=1)
    with pytest.raises(ConnectorUnavailableError) as caught:
        push_in_chunks(ITEMS, 3, storage.push)
    assert not isinstance(caught.value, PartialPushError)


def test_a_later_slice_failing_says_what_was_stored() -> None:
    storage = Storage(refuse_at=3)
    with pytest.raises(PartialPushError) as caught:
        push_in_chunks(ITEMS, 3, storage.push)
    error = caught.value
    assert (error.stored, error.total) == (6, 10)
    assert storage.kept == ITEMS[: error.stored]
    assert isinstance(error.__cause__, ConnectorUnavailableError)
    assert str(error).startswith("node a:1 did not answer; the first 6 of the 10 items")
    assert "push items[6:] again" in str(error)


def test_the_error_survives_pickling() -> None:
    """It may cross a process boundary (a worker's child reporting to its parent)."""
    error = PartialPushError("node a:1 is full", 5_000, 12_000)
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is PartialPushError
    assert isinstance(back, StorageError)
    assert (back.stored, back.total, str(back)) == (5_000, 12_000, str(error))
