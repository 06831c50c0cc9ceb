"""Receipts: ``<node index>:<token>:<n>``, the n-th item of the reserve call ``token``.

One reserve call on a node is one lease (see :mod:`sergeant_redis.scripts`), so a
receipt only has to name the call and the item's number in it. Building them is
a string concatenation per item; reading them back groups them by node and by
call, which is how the scripts take them (``token, k, n1 .. nk`` per call).

A reserve's :class:`~sergeant.connector.Batch` carries that grouping as its
handle, each call's numbers as a :class:`WholeCall`: acking the batch's own
receipts (:meth:`~sergeant.connector.Batch.receipts`) then parses nothing and
sends each call as ``token, -k``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import cast

from sergeant.connector import Batch, Delivery, Receipts, deliveries_of

__all__ = ["Grouped", "WholeCall", "add_call", "batch_args", "by_node", "new_token"]

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

    Only :func:`add_call` makes these, for a batch's handle; receipts parsed
    back never are, since ``1..k`` read from receipts may be the first k items
    of a bigger call.
    """


def add_call(
    batch: Batch, index: int, token: str, items: Sequence[bytes], extra: Sequence[int]
) -> None:
    """Add the deliveries of one reserve call on node ``index`` to ``batch``
    (whose handle is a :data:`Grouped`, made as ``Batch((), {})``): ``extra``
    lists ``n, deliveries`` for the items handed out before (every other item
    is on its first delivery)."""
    if not items:
        return
    prefix = f"{index}:{token}:"
    numbers = WholeCall(_numbers.upto(len(items))[: len(items)])
    receipts = [prefix + n for n in numbers]
    out = deliveries_of(zip(items, receipts, itertools.repeat(1)))
    for i in range(0, len(extra), 2):
        position = extra[i] - 1
        out[position] = Delivery(items[position], receipts[position], extra[i + 1])
    batch.grow(out)
    cast(Grouped, batch.handle).setdefault(index, {})[token] = numbers


def by_node(receipts: Receipts, node_count: int) -> Grouped:
    """Valid-looking receipts grouped by node and token; others are left out
    (they can name nothing live, so they count as not acked), such as those
    naming a node past ``node_count`` (a batch reserved through a connector
    with more nodes). The result is only read, never changed."""
    handle = cast("Grouped | None", receipts.handle)
    if handle is not None and all(index < node_count for index in handle):
        held = sum(len(numbers) for calls in handle.values() for numbers in calls.values())
        if len(receipts) == held:
            return handle  # a whole batch's receipts: no parsing
    grouped: Grouped = {}
    heads: dict[str, list[str] | None] = {}
    for receipt in receipts:
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
