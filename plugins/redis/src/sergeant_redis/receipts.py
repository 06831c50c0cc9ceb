"""Receipts: ``<node index>:<token>:<n>``, the n-th item of the reserve call ``token``.

One reserve call on a node is one lease (see :mod:`sergeant_redis.scripts`), so a
receipt only has to name the call and the item's number in it. Building them is
a string concatenation per item; reading them back groups them by node and by
call, which is how the scripts take them (``token, k, n1 .. nk`` per call).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator, Mapping, Sequence

from sergeant.connector import Delivery, deliveries_of
from sergeant.validation import check_receipts

__all__ = ["Issued", "WholeCall", "batch_args", "by_node", "deliveries", "new_token"]

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


class WholeCall(list[str]):
    """The item numbers 1..k of all the items one reserve call handed out.

    Only :func:`deliveries` makes these; receipts parsed back never are, since
    ``1..k`` read from receipts may be the first k items of a bigger call.
    """


class Issued(threading.local):
    """The receipts of the last two reserve calls this thread handed out, grouped.

    Settling exactly one of those, the worker's usual call (the batch before the
    one it prefetched, or the last one), then needs no parsing: a list
    comparison, element by element identical strings, tells it. The server still
    checks each receipt's lease as for any other.
    """

    receipts: list[str] | None = None
    grouped: Grouped
    earlier_receipts: list[str] | None = None
    earlier_grouped: Grouped


def deliveries(
    index: int, token: str, items: Sequence[bytes], extra: Sequence[int], issued: Issued
) -> list[Delivery]:
    """The deliveries of one reserve call: ``extra`` lists ``n, deliveries`` for
    the items handed out before (every other item is on its first delivery).
    Their receipts are remembered in ``issued``."""
    prefix = f"{index}:{token}:"
    numbers = WholeCall(_numbers.upto(len(items))[: len(items)])
    receipts = [prefix + n for n in numbers]
    out = deliveries_of(zip(items, receipts, itertools.repeat(1)))
    for i in range(0, len(extra), 2):
        position = extra[i] - 1
        out[position] = Delivery(items[position], receipts[position], extra[i + 1])
    if issued.receipts is not None:
        issued.earlier_receipts, issued.earlier_grouped = issued.receipts, issued.grouped
    issued.receipts, issued.grouped = receipts, {index: {token: numbers}}
    return out


def by_node(receipts: Sequence[str], node_count: int, issued: Issued) -> Grouped:
    """Valid-looking receipts grouped by node and token; others are left out
    (they can name nothing live, so they count as not acked). The result is
    only read, never changed."""
    if receipts:  # (an empty list names no call; None is refused below)
        if receipts == issued.receipts:
            return issued.grouped
        if receipts == issued.earlier_receipts:
            return issued.earlier_grouped
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
    if not (sep and token and index.isascii() and index.isdigit() and int(index) < node_count):
        return None
    if index[0] == "0" and index != "0":  # canonical only: "00" is no alias of "0"
        return None
    return grouped.setdefault(int(index), {}).setdefault(token, [])


def batch_args(
    batches: Mapping[str, list[str]], chunk: int, whole: bool = False
) -> Iterator[list[str | int]]:
    """Script arguments (``token, k, n1 .. nk`` per call) for about ``chunk``
    receipts at a time. With ``whole`` (acks), the receipts of all the items a
    call handed out (a :class:`WholeCall`) go as ``token, -k``."""
    args: list[str | int] = []
    size = 0
    for token, numbers in batches.items():
        if whole and type(numbers) is WholeCall:
            count = len(numbers)
            if args and size + 1 > chunk:
                yield args
                args, size = [], 0
            args.append(token)
            args.append(-count)
            size += 1
            continue
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
