"""sergeant.node_params: a ``nodes`` list is built entry by entry, and every error
names the entry (``nodes[1].port``) and the fix, showing no value a validator hid."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from sergeant.errors import ConfigError
from sergeant.node_params import build_nodes, within
from sergeant.validation import in_range, instance_of, non_empty_str

SECRET = "hunter2-s3cret"
EXAMPLE = "{'host': ..., 'port': ...}"


@attrs.frozen
class Server:
    host: str = attrs.field(default="localhost", validator=non_empty_str)
    port: int = attrs.field(default=1234, validator=in_range(1, 65535))
    password: str | None = attrs.field(
        default=None,
        validator=instance_of(str, allow_none=True),
        metadata={"secret": True},
        repr=False,
    )
    name: str | None = attrs.field(default=None, validator=instance_of(str, allow_none=True))


def build(value: Any, **options: Any) -> tuple[Server, ...]:
    return build_nodes(
        Server, value, example=EXAMPLE, identity=lambda s: f"{s.host}:{s.port}", **options
    )


def test_builds_each_entry_in_order() -> None:
    built = build([{"host": "a"}, {"host": "b", "port": 2, "name": "second"}, {}])
    assert built == (Server(host="a"), Server(host="b", port=2, name="second"), Server())


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ("localhost", r"invalid nodes: 'str'; pass a list of nodes like \[\{'host'"),
        ({"host": "a"}, r"invalid nodes: 'dict'; pass a list"),
        (frozenset({"a"}), r"invalid nodes: 'frozenset'; pass a list"),
        (5, r"invalid nodes: 'int'; pass a list"),
        ([], r"invalid nodes: \[\]; give at least one node"),
        ([{"host": "a"}, "b"], r"invalid nodes\[1\]: 'str'; each node is a mapping like \{'host'"),
        ([{"host": "a"}, {"port": "1"}], r"invalid nodes\[1\]\.port: '1'; expected a whole"),
        ([{"host": ""}], r"invalid nodes\[0\]\.host: ''; expected a non-empty string"),
        ([{"hots": "a"}], r"invalid nodes\[0\]\['hots'\]: 'unknown param'; did you mean 'host'"),
        ([{"host": "a"}, {"host": "a"}], r"invalid nodes\[1\]: 'a:1234'; nodes\[0\] is the same"),
        ([{"name": "x"}, {"host": "b", "name": "x"}], r"invalid nodes\[1\]\.name: 'x'"),
        ([{"host": "a"}, {"host": "b", "name": "#0"}], r"invalid nodes\[1\]\.name: '#0'"),
    ],
)
def test_errors_name_the_entry_and_the_fix(value: Any, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        build(value)


def test_any_iterable_of_entries_is_accepted() -> None:
    assert build({"host": h} for h in "ab") == (Server(host="a"), Server(host="b"))


def test_a_hidden_value_stays_hidden() -> None:
    with pytest.raises(ConfigError) as caught:
        build([{"host": "a"}, {"host": "b", "password": [SECRET]}])
    assert str(caught.value).startswith("invalid nodes[1].password: <redacted>;")
    assert SECRET not in str(caught.value)


def test_prepare_turns_an_entry_into_a_mapping_and_its_errors_are_named_within() -> None:
    def from_text(index: int, entry: Any) -> Any:
        if isinstance(entry, str):
            if entry.startswith("bad"):
                raise ConfigError("url", "<redacted>", "not a url", show_value=False)
            host, _, port = entry.partition(":")
            return {"host": host, "port": int(port)}
        return entry

    assert build(["a:1", {"host": "b"}], prepare=from_text) == (
        Server(host="a", port=1),
        Server(host="b"),
    )
    with pytest.raises(ConfigError, match=r"^invalid nodes\[1\]\.url: <redacted>; not a url$"):
        build(["a:1", f"bad:{SECRET}"], prepare=from_text)


def test_within_keeps_an_error_already_naming_the_entry() -> None:
    named = ConfigError("nodes[2].url", "x", "fix it")
    assert within("nodes[2]", named) is named
    unknown = ConfigError("nodes[2]['hots']", "unknown param", "did you mean 'host'?")
    assert within("nodes[2]", unknown) is unknown
    moved = within("nodes[2]", ConfigError("port", 0, "expected a whole number from 1"))
    assert str(moved) == "invalid nodes[2].port: 0; expected a whole number from 1"
    assert moved.field == "nodes[2].port"
    assert moved.fix == "expected a whole number from 1"


@attrs.frozen
class Address:
    host: str = attrs.field(validator=non_empty_str)
    port: int = attrs.field(validator=in_range(1, 65535))


def build_addresses(value: Any) -> tuple[Address, ...]:
    return build_nodes(
        Address,
        value,
        example="{'host': 'h', 'port': 1}",
        identity=lambda a: f"{a.host}:{a.port}",
        field="sentinel.nodes",
        what="sentinel",
    )


@pytest.mark.parametrize(
    ("value", "field", "fix"),
    [
        ({"host": "a"}, "sentinel.nodes", "pass a list of sentinels like [{'host': 'h'"),
        ([], "sentinel.nodes", "give at least one sentinel"),
        (["a:1"], "sentinel.nodes[0]", "each sentinel is a mapping"),
        ([{"host": "a", "port": 0}], "sentinel.nodes[0].port", "1 to 65535"),
        ([{"host": "a"}], "sentinel.nodes[0]['port']", "required"),
        ([{"host": "a", "port": 1, "name": "x"}], "sentinel.nodes[0]['name']", "host, port"),
        (
            [{"host": "a", "port": 1}, {"host": "a", "port": 1}],
            "sentinel.nodes[1]",
            "sentinel.nodes[0] is the same server: each sentinel",
        ),
    ],
)
def test_any_list_of_servers_is_named_as_given(value: Any, field: str, fix: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_addresses(value)
    assert caught.value.field == field
    assert fix in caught.value.fix


def test_entries_without_a_name_field_are_built_in_order() -> None:
    built = build_addresses([{"host": "a", "port": 1}, {"host": "a", "port": 2}])
    assert built == (Address("a", 1), Address("a", 2))


def test_a_config_error_shows_an_already_rendered_value_as_given() -> None:
    error = ConfigError("nodes[0].url", SECRET, "fix it", shown="'redis://:***@h'")
    assert str(error) == "invalid nodes[0].url: 'redis://:***@h'; fix it"
    assert SECRET not in str(error)
