"""The conformance kit fails connectors that break the contract (else it proves nothing).

Each case runs the kit, with pytest's own ``pytester``, against a subclass of the
example connector carrying one deliberate bug in a storage primitive (where a
backend's own code lives), and checks the tests that must catch it.
"""

from __future__ import annotations

import textwrap

import pytest

pytest_plugins = ["pytester"]

BUGS = {
    "lifo": (
        """
        def do_pop(self, queue_name, count):
            items = super().do_pop(queue_name, 10_000)
            keep, give = items[:-count], items[-count:]
            if keep:
                super().do_push(queue_name, keep, "NORMAL", None)
            return list(reversed(give))
        """,
        ["test_fifo_within_priority"],
    ),
    "ack_always_succeeds": (
        """
        def do_ack(self, queue_name, receipts):
            super().do_ack(queue_name, receipts)
            return len(receipts)
        """,
        ["test_reserve_then_ack", "test_lease_expiry_redelivers_with_count"],
    ),
    "lock_release_ignores_owner": (
        """
        def do_lock(self, name):
            lock = super().do_lock(name)
            original = lock.release
            def release():
                lock._token = lock.store.locks.get(name, (None,))[0]
                return original()
            lock.release = release
            return lock
        """,
        [
            "test_lock_non_owner_cannot_release_or_extend",
            "test_expired_lock_taken_by_another_is_not_ours",
        ],
    ),
    "delayed_items_ignored": (
        """
        def do_push(self, queue_name, items, priority, consumable_from):
            super().do_push(queue_name, items, priority, None)
        """,
        ["test_delayed_item_waits_until_consumable", "test_delayed_bulk_and_past_timestamps"],
    ),
}


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_kit_fails_a_broken_connector(pytester: pytest.Pytester, bug: str) -> None:
    method, must_fail = BUGS[bug]
    pytester.makepyfile(
        test_broken=textwrap.dedent(
            """
            import uuid
            import pytest
            from sergeant.testing import ConnectorConformance
            from sergeant_memory import MemoryConnector

            class Broken(MemoryConnector):
            {method}

            class TestBroken(ConnectorConformance):
                lease_seconds = 0.3

                @pytest.fixture
                def connector_factory(self):
                    name = uuid.uuid4().hex
                    return lambda: Broken(name=name)
            """
        ).format(method=textwrap.indent(textwrap.dedent(method), "    "))
    )
    result = pytester.runpytest("-q", "-p", "no:cacheprovider", "-k", " or ".join(must_fail))
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == len(must_fail), result.stdout.str()
    for name in must_fail:
        result.stdout.fnmatch_lines([f"*FAILED*{name}*"])
