"""sergeant.validation: params classes and argument checks report the field and the fix."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from sergeant import validation
from sergeant.errors import ConfigError


@attrs.frozen
class NodeParams:
    host: str = attrs.field(validator=validation.non_empty_str)
    port: int = attrs.field(default=6379, validator=validation.in_range(1, 65535))
    password: str | None = attrs.field(
        default=None,
        validator=validation.instance_of(str, allow_none=True),
        metadata={"secret": True},
    )


def test_build_params_accepts_good_params() -> None:
    built = validation.build_params(NodeParams, {"host": "h", "port": 1}, where="nodes[0]")
    assert built == NodeParams(host="h", port=1)


@pytest.mark.parametrize(
    ("params", "pattern"),
    [
        ({"host": "h", "prot": 1}, r"nodes\[0\]\['prot'\].*did you mean 'port'"),
        ({"port": 1}, r"nodes\[0\]\['host'\].*required"),
        ({"host": "h", "port": 0}, r"port.*from 1 to 65535"),
        ({"host": "h", "port": True}, r"port"),
        ({"host": ""}, r"host.*non-empty"),
        ("host=h", r"nodes\[0\].*mapping"),
    ],
)
def test_build_params_names_the_bad_field(params: object, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        validation.build_params(NodeParams, params, where="nodes[0]")  # type: ignore[arg-type]


def test_secret_values_are_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        NodeParams(host="h", password=12345678)  # type: ignore[arg-type]
    assert "12345678" not in str(caught.value)
    assert "password" in str(caught.value)


@pytest.mark.parametrize(
    ("check", "value", "field"),
    [
        (validation.check_priority, "LOW", "priority"),
        (validation.check_item, "text", "item"),
        (validation.check_items, b"abc", "items"),
        (lambda v: validation.check_count("number_of_items", v), 0, "number_of_items"),
        (lambda v: validation.check_positive("lease_seconds", v), float("inf"), "lease_seconds"),
        (validation.check_consumable_from, "tomorrow", "consumable_from"),
        (validation.check_receipts, [1], "receipts[0]"),
        (validation.check_ttl, 0, "ttl"),
        (validation.check_queue_name, "x" * 2000, "queue_name"),
        (validation.check_queue_name, "a\x00b", "queue_name"),
    ],
)
def test_checks_name_the_field(check: object, value: object, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check(value)  # type: ignore[operator]
    assert str(caught.value).startswith(f"invalid {field}:")


def test_checks_pass_good_values_through() -> None:
    assert validation.check_items(iter([b"a", b"b"])) == [b"a", b"b"]
    assert validation.check_ttl(1.2) == 2
    assert validation.check_consumable_from(None) is None
    assert validation.check_consumable_from(5) == 5.0


@pytest.mark.parametrize(
    ("check", "value", "field"),
    [
        (lambda v: validation.check_positive("lease_seconds", v), 2**1100, "lease_seconds"),
        (lambda v: validation.check_positive("lease_seconds", v), 1e300, "lease_seconds"),
        (validation.check_consumable_from, 2**1100, "consumable_from"),
        (validation.check_consumable_from, 1e300, "consumable_from"),
        (validation.check_ttl, 2**64, "ttl"),
        (validation.check_timeout, float("nan"), "timeout"),
        (validation.check_timeout, -1, "timeout"),
        (validation.check_timeout, [], "timeout"),
    ],
)
def test_huge_and_odd_numbers_are_config_errors(check: Any, value: object, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        check(value)


def test_counts_are_capped_not_refused() -> None:
    assert validation.check_count("number_of_items", 2**70) == validation.MAX_COUNT
    assert validation.check_count("number_of_items", 7) == 7
    assert validation.check_timeout(None) is None
    assert validation.check_timeout(0) == 0.0


@attrs.frozen
class Credentials:
    username: str | None = validation.optional_str()
    password: str | None = validation.optional_str(secret=True)
    token: str | None = validation.optional_str(secret=True, allow_empty=True)
    url: str | None = validation.optional_str(
        secret=True, shown=lambda url: "<url>" if url else "None"
    )


def test_optional_str_takes_a_string_or_none_and_hides_secrets_in_reprs() -> None:
    built = Credentials(username="u", password="hunter2", token="", url="redis://:pw@h")
    text = repr(built)
    assert "username='u'" in text
    assert "password='***'" in text
    assert "token='***'" in text
    assert "url=<url>" in text
    assert "hunter2" not in text
    assert "pw@h" not in text
    assert repr(Credentials()) == "Credentials(username=None, password=None, token=None, url=None)"


@pytest.mark.parametrize(
    ("params", "field", "fix"),
    [
        ({"username": ""}, "username", "a non-empty string or None"),
        ({"username": 7}, "username", "a non-empty string or None"),
        ({"password": ["hunter2"]}, "password", "a non-empty string or None"),
        ({"token": b"hunter2"}, "token", "a string or None"),
    ],
)
def test_optional_str_refuses_other_values_naming_the_field(
    params: dict[str, Any], field: str, fix: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Credentials(**params)
    assert caught.value.field == field
    assert caught.value.fix == f"expected {fix}"
    assert "hunter2" not in str(caught.value)


@attrs.frozen
class Server:
    host: str = attrs.field(converter=validation.unbracketed, validator=validation.host_name)


@pytest.mark.parametrize(
    ("host", "fix"),
    [
        ("", "expected a non-empty string"),
        ("h\x00", "no spaces or control characters"),
        ("my host", "no spaces or control characters"),
        ("host\n", "no spaces or control characters"),
        ("h" * 254, "at most 253 characters"),
        ("redis.example.com:6379", "give the port in 'port'"),
        ("redis://h:6379", "a url goes in 'url'"),
        ("user:secret@h", "a password in 'password'"),
        ("[abc]", "brackets go only around an IPv6 address"),
        ("[::1", "brackets go only around an IPv6 address"),
        ("::1::2", "expected a host name or an IP address"),
        ("a:b:c", "expected a host name or an IP address"),
    ],
)
def test_a_host_that_could_only_fail_at_connection_time_is_refused_with_the_fix(
    host: str, fix: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Server(host=host)
    assert caught.value.field == "host"
    assert fix in caught.value.fix


@pytest.mark.parametrize(
    ("given", "stored", "in_host_port"),
    [
        ("redis.example.com", "redis.example.com", "redis.example.com"),
        ("10.0.0.1", "10.0.0.1", "10.0.0.1"),
        ("::1", "::1", "[::1]"),
        ("[::1]", "::1", "[::1]"),
        ("[fe80::1%eth0]", "fe80::1%eth0", "[fe80::1%eth0]"),
        ("/tmp/mongodb-27017.sock", "/tmp/mongodb-27017.sock", "/tmp/mongodb-27017.sock"),
        ("h" * 253, "h" * 253, "h" * 253),
    ],
)
def test_hosts_are_taken_in_either_ipv6_spelling(
    given: str, stored: str, in_host_port: str
) -> None:
    assert Server(host=given).host == stored
    assert validation.bracketed(stored) == in_host_port


@pytest.mark.parametrize(
    "host",
    ["redis://:hunter2@h:6379/0", "user:hunter2@h", "redis: //u:hunter2@h", "a" * 250 + "@h"],
)
def test_a_host_holding_a_password_is_refused_without_showing_it(host: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Server(host=host.replace("a" * 250, "hunter2" * 40))
    assert "hunter2" not in str(caught.value)
    assert caught.value.field == "host"
