"""Stored text the CLI prints (queue names, dead letters' reasons, plugin metadata)
cannot drive the terminal: control and bidirectional characters print as escapes."""

from __future__ import annotations

import pytest
from sergeant.cli._words import printable


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),  # clear the screen, colour
        ("\x1b]52;c;aGk=\x07", "\\x1b]52;c;aGk=\\x07"),  # OSC 52: write the clipboard
        ("\x9b31m", "\\x9b31m"),  # the one-byte C1 CSI
        ("a\rb\nc\td\x7f", "a\\x0db\\x0ac\\x09d\\x7f"),
        ("invoice\u202egpj.exe", "invoice\\u202egpj.exe"),  # right-to-left override
    ],
)
def test_control_characters_print_as_escapes(stored: str, shown: str) -> None:
    assert printable(stored) == shown


@pytest.mark.parametrize("text", ["crawl", "café-队列", "family \U0001f468\u200d\U0001f469", ""])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert printable(text) == text
