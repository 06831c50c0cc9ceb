"""Words for the CLI's messages: counted nouns (``1 task``, ``2 tasks``), and
stored text made safe to print on a terminal."""

from __future__ import annotations

import unicodedata

__all__ = ["counted", "printable"]

#: Characters that reorder the text around them on screen (bidirectional controls).
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """``number`` and ``noun``, plural unless the number is exactly 1 (``0 tasks``)."""
    word = noun if number == 1 else (plural or f"{noun}s")
    return f"{number} {word}"


def printable(text: str) -> str:
    """``text`` with control characters and bidirectional controls written as escapes
    (``\\x1b``, ``\\u202e``).

    Queue names, dead letters' reasons (often a task's exception message, made of
    the payload it choked on) and plugin metadata come from storage or from other
    people; printed raw, an escape sequence in them would drive the operator's
    terminal (clear it, retitle it, write its clipboard) or hide text.
    """
    if text.isprintable():
        return text
    return "".join(
        _escaped(ch) if unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS else ch
        for ch in text
    )


def _escaped(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
