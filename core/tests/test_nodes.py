"""``sergeant.nodes``: the multi-node machinery the redis and mongo connectors share.

Proves, with stand-in nodes (no backend): node names are the ``name`` param or
the position, and must be distinct; rendezvous hashing follows its documented
rule (so keys and locks stored by earlier versions of either backend are found
where they were put), moves only keys that go to an added node, and spreads
evenly; back-off doubles up to its limit (the redis and mongo defaults give the
delays each backend always had) and health is counted across threads; rotation
takes turns round-robin with down nodes last; visits are lazy, skip down nodes
once one answered, try them when none did, and fail naming every failure;
gathering tolerates down nodes, or requires every node when asked.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator

import pytest
from sergeant.errors import ConfigError, ConnectorUnavailableError, StorageError
from sergeant.nodes import Backoff, Health, Rotation, gather, node_names, rendezvous, visit


class FakeNode:
    """A stand-in node: a name, health, and whether calls reach it."""

    def __init__(self, name: str, reachable: bool = True) -> None:
        self.name = name
        self.health = Health(Backoff(first=10.0, limit=60.0))
        self.reachable = reachable
        self.calls = 0

    def __repr__(self) -> str:
        return f"FakeNode({self.name})"

    def ask(self) -> str:
        self.calls += 1
        if not self.reachable:
            self.health.failed()
            raise ConnectorUnavailableError(f"{self.name} is unreachable")
        self.health.succeeded()
        return f"answer of {self.name}"


def fake_nodes(count: int) -> list[FakeNode]:
    return [FakeNode(f"n{i}") for i in range(count)]


# Identity --------------------------------------------------------------------


def test_unnamed_nodes_are_named_by_their_position_and_named_ones_by_their_name() -> None:
    assert node_names([None, "blue", None]) == ("#0", "blue", "#2")


@pytest.mark.parametrize(
    ("given", "field"), [(["a", "a"], "nodes[1].name"), ([None, "#0"], "nodes[1].name")]
)
def test_two_nodes_with_one_name_is_a_config_error_naming_the_second(
    given: list[str | None], field: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        node_names(given)
    assert caught.value.field == field
    assert "nodes[0]" in str(caught.value)


# Placement -------------------------------------------------------------------


def documented_owner(names: list[str], key: str) -> int:
    """The rule the module docstring states, written out independently: BLAKE2b-64 of
    ``name NUL key`` compared as bytes (big-endian), highest wins, first on a tie."""
    digests = [
        hashlib.blake2b((n + "\0" + key).encode("utf-8"), digest_size=8).digest() for n in names
    ]
    best = max(digests)
    return digests.index(best)


KEYS = [f"key-{i}" for i in range(3000)] + ["lock:ünïcødé", "sergeant", "a" * 300]


@pytest.mark.parametrize(
    "names", [["#0", "#1"], ["#0", "#1", "#2"], ["blue", "green", "red", "#3"]]
)
def test_keys_go_where_the_documented_rule_put_them(names: list[str]) -> None:
    assert [rendezvous(names, key) for key in KEYS] == [
        documented_owner(names, key) for key in KEYS
    ]


def test_placements_stored_by_earlier_versions_are_found_where_they_were_put() -> None:
    """Placements both backends computed before this module existed (pinned: data
    stored by a running deployment depends on them)."""
    pinned = {
        ("#0", "#1"): [("lock-a", 0), ("key-1", 1), ("sergeant", 0), ("ü-ключ", 1)],
        ("#0", "#1", "#2"): [("lock-a", 0), ("key-1", 2), ("sergeant", 0), ("ü-ключ", 1)],
        ("blue", "green"): [("lock-a", 1), ("key-1", 0), ("sergeant", 1), ("ü-ключ", 0)],
    }
    for names, placements in pinned.items():
        assert [(key, rendezvous(names, key)) for key, _ in placements] == placements


def test_one_node_holds_everything() -> None:
    assert {rendezvous(["only"], key) for key in KEYS} == {0}


def test_adding_a_node_moves_only_keys_that_now_go_to_it_and_about_their_share() -> None:
    two, three = ["#0", "#1"], ["#0", "#1", "#2"]
    moved = [key for key in KEYS if rendezvous(two, key) != rendezvous(three, key)]
    assert all(rendezvous(three, key) == 2 for key in moved)
    assert 0.25 < len(moved) / len(KEYS) < 0.42
    shares = [sum(rendezvous(two, key) == i for key in KEYS) / len(KEYS) for i in (0, 1)]
    assert all(0.45 < share < 0.55 for share in shares)


# Health ----------------------------------------------------------------------


def test_the_redis_back_off_doubles_from_a_quarter_second_to_five() -> None:
    backoff = Backoff(first=0.25, limit=5.0)
    assert [backoff.delay(n) for n in range(1, 8)] == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_the_mongo_back_off_doubles_retry_down_after_up_to_ten_times_it() -> None:
    backoff = Backoff(first=0.5, limit=0.5 * 10)
    assert [backoff.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_back_off_after_very_many_failures_stays_at_its_limit() -> None:
    assert Backoff(first=0.25, limit=5.0).delay(10**6) == 5.0
    assert Backoff(first=1.0, limit=3.0, factor=3.0).delay(3) == 3.0


def test_a_failed_node_is_down_for_its_back_off_and_up_once_it_answers() -> None:
    health = Health(Backoff(first=2.0, limit=8.0))
    assert not health.is_down()
    now = time.monotonic()
    assert health.failed(now) == 2.0
    assert health.is_down(now + 1.9)
    assert not health.is_down(now + 2.0)
    assert health.failed(now) == 4.0
    assert health.is_down(now + 3.9)
    health.succeeded()
    assert not health.is_down(now)
    assert health.failures == 0
    assert health.failed(now) == 2.0, "the back-off starts over after an answer"


def test_failures_from_many_threads_at_once_all_count() -> None:
    health = Health(Backoff(first=0.001, limit=1.0))
    threads = 8
    start = threading.Barrier(threads)

    def fail() -> None:
        start.wait(timeout=30)
        for _ in range(5):
            health.failed()

    workers = [threading.Thread(target=fail) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert health.failures == 40


# Rotation --------------------------------------------------------------------


def test_turns_go_round_robin_over_every_node() -> None:
    nodes = fake_nodes(3)
    rotation = Rotation(nodes, start=1)
    assert [rotation.next().name for _ in range(6)] == ["n1", "n2", "n0", "n1", "n2", "n0"]


def test_the_default_first_turn_differs_between_rotations() -> None:
    nodes = fake_nodes(16)
    firsts = {Rotation(nodes).next().name for _ in range(40)}
    assert len(firsts) > 1


def test_each_order_starts_from_the_next_node_in_turn() -> None:
    nodes = fake_nodes(3)
    rotation = Rotation(nodes, start=0)
    orders = [[n.name for n in rotation.order()] for _ in range(3)]
    assert orders == [["n0", "n1", "n2"], ["n1", "n2", "n0"], ["n2", "n0", "n1"]]
    assert rotation.next().name == "n0", "orders and single turns share the turn"


def test_down_nodes_come_last_and_later_ones_after_the_rest_of_their_kind() -> None:
    nodes = fake_nodes(5)
    nodes[1].health.failed()
    nodes[3].health.failed()
    later = {"n2", "n3"}
    order = Rotation(nodes, start=0).order(later=lambda node: node.name in later)
    assert [n.name for n in order] == ["n0", "n4", "n2", "n1", "n3"]


def test_one_node_is_its_own_order() -> None:
    (node,) = fake_nodes(1)
    node.health.failed()
    assert Rotation([node]).order() == [node]


# Visits ----------------------------------------------------------------------


def test_a_visit_stops_calling_nodes_once_the_caller_has_enough() -> None:
    nodes = fake_nodes(3)
    for _node, answer in visit(nodes, FakeNode.ask):
        assert answer == "answer of n0"
        break
    assert [n.calls for n in nodes] == [1, 0, 0]


def test_a_visit_skips_down_nodes_once_one_answered() -> None:
    nodes = fake_nodes(3)
    nodes[0].reachable = False
    nodes[2].health.failed()
    got = [node.name for node, _ in visit(nodes, FakeNode.ask)]
    assert got == ["n1"]
    assert [n.calls for n in nodes] == [1, 1, 0]


def test_a_visit_tries_down_nodes_when_no_other_answered() -> None:
    nodes = fake_nodes(2)
    nodes[0].reachable = False
    nodes[1].health.failed()
    assert [node.name for node, _ in visit(nodes, FakeNode.ask)] == ["n1"]
    assert not nodes[1].health.is_down(), "its answer put it up"


def test_after_an_answer_elsewhere_down_nodes_are_skipped_from_the_start() -> None:
    nodes = fake_nodes(2)
    nodes[0].health.failed()
    assert [node.name for node, _ in visit(nodes, FakeNode.ask, answered=True)] == ["n1"]
    assert nodes[0].calls == 0


def test_a_visit_of_every_node_calls_down_ones_too() -> None:
    nodes = fake_nodes(2)
    nodes[1].health.failed()
    assert [node.name for node, _ in visit(nodes, FakeNode.ask, skip_down=False)] == ["n0", "n1"]


def test_when_no_node_answers_the_visit_fails_with_every_failure_in_turn() -> None:
    nodes = [FakeNode("a", reachable=False), FakeNode("b", reachable=False)]
    heard: list[str] = []

    def error(failures: list[ConnectorUnavailableError]) -> Exception:
        return ConnectorUnavailableError("none: " + " / ".join(map(str, failures)))

    with pytest.raises(
        ConnectorUnavailableError, match="none: a is unreachable / b is unreachable"
    ):
        list(visit(nodes, FakeNode.ask, error=error, on_failure=lambda exc: heard.append(str(exc))))
    assert heard == ["a is unreachable", "b is unreachable"]
    assert all(node.health.is_down() for node in nodes)


def test_the_default_error_names_every_failure() -> None:
    with pytest.raises(ConnectorUnavailableError, match="no node answered: a is unreachable"):
        list(visit([FakeNode("a", reachable=False)], FakeNode.ask))


def test_errors_other_than_unavailable_stop_the_visit() -> None:
    nodes = fake_nodes(2)

    def refuse(node: FakeNode) -> str:
        node.calls += 1
        raise StorageError("refused")

    with pytest.raises(StorageError, match="refused"):
        list(visit(nodes, refuse))
    assert [n.calls for n in nodes] == [1, 0]


def test_a_visit_tolerates_only_the_error_it_is_told_means_unavailable() -> None:
    class NodeDown(ConnectorUnavailableError):
        pass

    def call(node: FakeNode) -> str:
        raise ConnectorUnavailableError("not the node's own error")

    with pytest.raises(ConnectorUnavailableError, match="not the node's own error"):
        list(visit(fake_nodes(2), call, unavailable=NodeDown))


def test_a_visit_that_is_not_iterated_calls_no_node() -> None:
    nodes = fake_nodes(2)
    pending: Iterator[tuple[FakeNode, str]] = visit(nodes, FakeNode.ask)
    assert [n.calls for n in nodes] == [0, 0]
    assert len(list(pending)) == 2


# Gathering -------------------------------------------------------------------


def test_gathering_leaves_out_nodes_that_cannot_answer() -> None:
    nodes = fake_nodes(3)
    nodes[1].reachable = False
    heard: list[BaseException] = []
    got = gather(nodes, FakeNode.ask, on_failure=heard.append)
    assert [(node.name, answer) for node, answer in got] == [
        ("n0", "answer of n0"),
        ("n2", "answer of n2"),
    ]
    assert [str(exc) for exc in heard] == ["n1 is unreachable"]


def test_gathering_asks_down_nodes_unless_told_to_skip_them() -> None:
    nodes = fake_nodes(2)
    nodes[1].health.failed()
    assert [node.name for node, _ in gather(nodes, FakeNode.ask, skip_down=True)] == ["n0"]
    assert nodes[1].calls == 0
    assert len(gather(nodes, FakeNode.ask)) == 2


def test_gathering_fails_when_no_node_answers() -> None:
    with pytest.raises(ConnectorUnavailableError):
        gather([FakeNode("a", reachable=False)], FakeNode.ask)


def test_gathering_from_every_node_fails_after_trying_all_if_one_did_not_answer() -> None:
    nodes = fake_nodes(3)
    nodes[0].reachable = False
    with pytest.raises(ConnectorUnavailableError, match="n0 is unreachable"):
        gather(nodes, FakeNode.ask, every=True)
    assert [n.calls for n in nodes] == [1, 1, 1]
    assert len(gather(fake_nodes(2), FakeNode.ask, every=True)) == 2
