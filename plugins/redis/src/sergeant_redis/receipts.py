"""Receipts: ``<node index>:<token>:<n>``, the n-th item of the reserve call ``token``.

One reserve call on a node is one lease (see :mod:`sergeant_redis.scripts`), so a
receipt only has to name the call and the item's number in it. Building them is
a string concatenation per item; reading them back groups them by node and by
call, which is how the scripts take them (``token, k, n1 .. nk`` per call).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence

from sergeant.connector import Delivery
from sergeant.validation import check_receipts

__all__ = ["batch_args", "by_node", "deliveries", "new_token"]

#: Receipts by node index, then by token: the item numbers (as sent by the client).
Grouped = dict[int, dict[str, list[str]]]


class _Numbers:
    """``'1'``, ``'2'``, ... as strings, grown on demand (replaced whole, so a
    thread reading the old list still sees correct numbers)."""

    def __init__(self) -> None:
        self.strings = [str(n) for n in range(1, 1025)]

    def upto(self, count: int) -> list[str]:
        strings = self.strings
        if len(strings) < count:
            strings = [str(n) for n in range(1, max(count, 2 * len(strings)) + 1)]
            self.strings = strings
        return strings


_numbers = _Numbers()


def new_token() -> str:
    """A fresh reserve-call token: 16 hex digits, unique in practice."""
    return os.urandom(8).hex()


def deliveries(
    index: int, token: str, items: Sequence[bytes], extra: Sequence[int]
) -> list[Delivery]:
    """The deliveries of one reserve call: ``extra`` lists ``n, deliveries`` for
    the items handed out before (every other item is on its first delivery)."""
    prefix = f"{index}:{token}:"
    numbers = _numbers.upto(len(items))
    out = [Delivery(item, prefix + n, 1) for item, n in zip(items, numbers, strict=False)]
    for i in range(0, len(extra), 2):
        position = extra[i] - 1
        out[position] = Delivery(items[position], out[position].receipt, extra[i + 1])
    return out


def by_node(receipts: Sequence[str], node_count: int) -> Grouped:
    """Valid-looking receipts grouped by node and token; others are left out
    (they can name nothing live, so they count as not acked)."""
    grouped: Grouped = {}
    heads: dict[str, list[str] | None] = {}
    for receipt in check_receipts(receipts):
        head, _, number = receipt.rpartition(":")
        try:
            numbers = heads[head]
        except KeyError:
            numbers = heads[head] = _numbers_of(head, node_count, grouped)
        if numbers is not None:
            numbers.append(number)
    return grouped


def _numbers_of(head: str, node_count: int, grouped: Grouped) -> list[str] | None:
    index, sep, token = head.partition(":")
    if not (sep and token and index.isdigit() and int(index) < node_count):
        return None
    return grouped.setdefault(int(index), {}).setdefault(token, [])


def batch_args(batches: Mapping[str, list[str]], chunk: int) -> Iterator[list[str | int]]:
    """Script arguments (``token, k, n1 .. nk`` per call) for about ``chunk``
    receipts at a time."""
    args: list[str | int] = []
    size = 0
    for token, numbers in batches.items():
        for start in range(0, len(numbers), chunk):
            part = numbers[start : start + chunk]
            if args and size + len(part) > chunk:
                yield args
                args, size = [], 0
            args.append(token)
            args.append(len(part))
            args.extend(part)
            size += len(part)
    if args:
        yield args
