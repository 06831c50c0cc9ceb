"""pytest plugin: fixtures for real servers, and the no-skip guard used in CI.

With ``SERGEANT_TEST_NO_SKIP=1`` (set by ``scripts/test``) a skipped test fails the
run, because every backend test must run in CI. A test may opt out only with
``@pytest.mark.allowed_skip(reason)``, used where the issue says a skip is right
(the replica-set test without a real mongod).
"""

from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "allowed_skip(reason): this test may skip even when skips are forbidden"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("SERGEANT_TEST_NO_SKIP") != "1" or not report.skipped:
        return
    if item.get_closest_marker("allowed_skip") is not None or hasattr(report, "wasxfail"):
        return
    report.outcome = "failed"
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
    report.longrepr = f"skipped, but SERGEANT_TEST_NO_SKIP=1 forbids skips: {reason}"
