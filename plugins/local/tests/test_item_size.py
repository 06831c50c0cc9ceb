"""The largest item ``local`` takes is one a reserve can also store.

SQLite refuses a value, and a whole row, over SQLITE_MAX_LENGTH (10**9 bytes by
default). A reserve moves an item into a lease row with a few more columns, so
an item just under the limit used to be pushed and then refused by every
reserve: it stayed at the head of its queue and blocked the items behind it.
Items over 2 GiB raised a bare OverflowError from the driver.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sergeant.errors import ItemTooLargeError
from sergeant_local import LocalConnector


@pytest.fixture
def connector(tmp_path: Path) -> Iterator[LocalConnector]:
    made = LocalConnector(file_path=str(tmp_path / "q.sqlite3"))
    yield made
    made.close()


def test_the_limit_leaves_room_for_a_lease_row_under_sqlites() -> None:
    limit = sqlite3.connect(":memory:").getlimit(sqlite3.SQLITE_LIMIT_LENGTH)
    assert LocalConnector.max_item_bytes is not None
    assert LocalConnector.max_item_bytes + 2**16 <= limit


def test_an_item_over_the_limit_is_refused_before_anything_is_stored(
    connector: LocalConnector,
) -> None:
    limit = connector.max_item_bytes
    assert limit is not None
    # bytes(n) is calloc'ed: its pages are never touched, so this costs no memory.
    too_big = bytes(limit + 1)
    with pytest.raises(ItemTooLargeError, match=r"items\[1\]") as caught:
        connector.queue_push_bulk("q", [b"small", too_big])
    assert f"{limit + 1:,} bytes" in str(caught.value)
    with pytest.raises(ItemTooLargeError):
        connector.queue_push("q", too_big)
    with pytest.raises(ItemTooLargeError):
        connector.key_set("k", too_big)
    assert connector.queue_length("q") == 0
    assert connector.key_get("k") is None
