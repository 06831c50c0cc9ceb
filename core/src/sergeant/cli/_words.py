"""Counted nouns for the CLI's messages: ``1 task``, ``2 tasks``."""

from __future__ import annotations

__all__ = ["counted"]


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """``number`` and ``noun``, plural unless the number is exactly 1 (``0 tasks``)."""
    word = noun if number == 1 else (plural or f"{noun}s")
    return f"{number} {word}"
