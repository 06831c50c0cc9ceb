"""Local receipts are canonical: one receipt, one spelling.

A receipt is ``<lease id>.<token>.<index>``. Parsed leniently, ``'7.123.00'``
or ``'07.123.0'`` named the same item as ``'7.123.0'``, so a caller could ack
(or release, or extend) an item with a string it was never handed. Only the
exact strings handed out act; the spellings tried here are every zero-padded
or otherwise re-spelt part, for indexes in and past the cache of small ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sergeant_local import LocalConnector

#: Past the first 4,096 indexes, receipts are parsed without the cache.
BIG_BATCH = 4_200


@pytest.fixture
def connector(tmp_path: Path) -> Iterator[LocalConnector]:
    with LocalConnector(file_path=str(tmp_path / "receipts.sqlite3")) as connector:
        yield connector


def respellings(receipt: str) -> list[str]:
    """Strings a lenient parser reads as ``receipt``: each part zero-padded, signed,
    spaced, in fullwidth digits; the parts joined by another dot."""
    lease, token, index = receipt.split(".")
    found: set[str] = set()
    for position, part in enumerate((lease, token, index)):
        wide = "".join(chr(0xFF10 + int(digit)) for digit in part)
        for other in (f"0{part}", f"00{part}", f"+{part}", f" {part}", f"{part} ", wide):
            parts = [lease, token, index]
            parts[position] = other
            found.add(".".join(parts))
    found |= {f"{lease}.{token}..{index}", f"{receipt}.", f".{receipt}", receipt + "\n"}
    found.discard(receipt)
    return sorted(found)


def test_respelt_receipts_act_on_nothing(connector: LocalConnector) -> None:
    connector.queue_push_bulk("q", [f"item-{i}".encode() for i in range(12)])
    batch = connector.queue_reserve("q", 12, 30)
    receipts = [delivery.receipt for delivery in batch]
    assert any(r.endswith(".0") for r in receipts)  # '.00' was an alias of index 0
    variants = [v for r in receipts for v in respellings(r)]
    assert len(variants) > 12 * 15
    assert connector.queue_ack("q", variants) == 0
    assert connector.queue_release("q", variants) == 0
    assert connector.queue_extend("q", variants, 30) == 0
    acked, more = connector.queue_ack_and_reserve("q", variants, 1, 30)
    assert (acked, more) == (0, [])
    (stats,) = connector.queue_stats("q")
    assert (stats.ready, stats.in_flight) == (0, 12)  # every item still held, none settled
    assert connector.queue_ack("q", receipts) == 12


def test_each_respelling_alone_acts_on_nothing(connector: LocalConnector) -> None:
    """One at a time too: a batch of one receipt takes the parser's single-lease path."""
    connector.queue_push("q", b"one")
    (delivery,) = connector.queue_reserve("q", 1, 30)
    for variant in respellings(delivery.receipt):
        assert connector.queue_ack("q", [variant]) == 0, variant
    assert connector.queue_ack("q", [delivery.receipt]) == 1


def test_indexes_past_the_cache_are_canonical_too(connector: LocalConnector) -> None:
    connector.queue_push_bulk("q", [f"item-{i}".encode() for i in range(BIG_BATCH)])
    batch = connector.queue_reserve("q", BIG_BATCH, 60)
    late = [d.receipt for d in batch if int(d.receipt.rsplit(".", 1)[1]) >= 4096]
    assert len(late) == BIG_BATCH - 4096
    padded = [f"{r.rsplit('.', 1)[0]}.0{r.rsplit('.', 1)[1]}" for r in late]
    assert connector.queue_ack("q", padded) == 0
    assert connector.queue_ack("q", late) == len(late)
    assert connector.queue_ack("q", [d.receipt for d in batch]) == 4096
