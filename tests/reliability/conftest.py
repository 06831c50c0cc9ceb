"""Reliability suite: faults, load and bad input against real servers and processes."""

from __future__ import annotations

import os

import pytest

#: Longer runs by hand: ``SERGEANT_TEST_SOAK=1 scripts/reliability``.
SOAK = os.environ.get("SERGEANT_TEST_SOAK") == "1"


@pytest.fixture
def soak() -> bool:
    """True for the long by-hand variants; CI runs the short ones."""
    return SOAK
