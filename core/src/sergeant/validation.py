"""Validators for connector params, shared by every backend.

Backends describe their params as frozen attrs classes; these validators raise
:class:`~sergeant.errors.ConfigError` naming the field, so a bad param fails at
construction with a message that says how to fix it.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs

from sergeant.errors import ConfigError
from sergeant.redaction import redact_text

__all__ = [
    "PRIORITIES",
    "bracketed",
    "build_params",
    "check_consumable_from",
    "check_count",
    "check_item",
    "check_items",
    "check_name",
    "check_positive",
    "check_priority",
    "check_queue_name",
    "check_receipts",
    "check_set_ttl",
    "check_ttl",
    "check_unicode",
    "host_name",
    "in_range",
    "instance_of",
    "non_empty_str",
    "optional_str",
    "positive_number",
    "unbracketed",
]

T = TypeVar("T")

_MAX_NAME_LENGTH = 1024


def build_params(cls: type[T], params: Mapping[str, Any], *, where: str) -> T:
    """Build the attrs params class ``cls`` from ``params``, reporting bad keys clearly.

    :param where: how the message names the place, e.g. ``"connector 'local' params"``.
    """
    if not isinstance(params, Mapping):
        raise ConfigError(where, type(params).__name__, "pass a mapping of param names to values")
    fields = attrs.fields_dict(cls)  # type: ignore[arg-type]
    accepted = sorted(f.alias or name for name, f in fields.items())
    for key in params:
        if key not in accepted:
            close = difflib.get_close_matches(str(key), accepted, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(
                f"{where}[{key!r}]",
                "unknown param",
                f"{hint}accepted params: {', '.join(accepted)}",
            )
    for name, field in fields.items():
        alias = field.alias or name
        if field.default is attrs.NOTHING and alias not in params:
            raise ConfigError(f"{where}[{alias!r}]", "missing", "this param is required")
    return cls(**params)


def instance_of(*types: type, allow_none: bool = False, what: str = "") -> Callable[..., None]:
    """Validator: the value is an instance of ``types`` (``bool`` never passes for ``int``)."""
    names = " or ".join(t.__name__ for t in types) + (" or None" if allow_none else "")

    def check(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and allow_none:
            return
        ok = False if isinstance(value, bool) and bool not in types else isinstance(value, types)
        if not ok:
            secret = attribute.metadata.get("secret", False)
            raise ConfigError(
                what or attribute.name, value, f"expected {names}", show_value=not secret
            )

    return check


def non_empty_str(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """Validator: a non-empty string."""
    if not isinstance(value, str) or not value:
        raise ConfigError(attribute.name, value, "expected a non-empty string")


#: The longest DNS name (RFC 1035); addresses and socket paths are shorter.
_MAX_HOST_LENGTH = 253
_HOST_AND_PORT = re.compile(r"[^:]+:\d+")


def host_name(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """Validator: a host name, IP address or socket path as a driver connects to it.

    Refuses, with the fix, what would only fail later at connection time and
    read as the server being down: whitespace or control characters, brackets
    (but around an IPv6 address, which :func:`unbracketed` takes off first),
    ``host:port`` in one string, a url, an over-long name.
    """
    non_empty_str(_inst, attribute, value)
    field = attribute.name
    # A url or "password@host" given as the host: what precedes its last '@' is
    # never shown, whatever the spelling.
    text = "***@" + value.rsplit("@", 1)[1] if "@" in value else redact_text(value)
    shown = repr(text if len(text) <= 60 else text[:40] + "...")

    def refuse(fix: str) -> ConfigError:
        return ConfigError(field, None, fix, shown=shown)

    if len(value) > _MAX_HOST_LENGTH:
        raise refuse(f"a host name has at most {_MAX_HOST_LENGTH} characters")
    if any(ord(char) < 33 or ord(char) == 127 for char in value):
        raise refuse("a host name has no spaces or control characters")
    if "://" in value or "@" in value:
        raise refuse("a url goes in 'url' and a password in 'password', not in 'host'")
    if "[" in value or "]" in value:
        raise refuse("brackets go only around an IPv6 address: '[::1]'")
    if ":" in value and not value.startswith("/"):
        if _HOST_AND_PORT.fullmatch(value):
            raise refuse("give the port in 'port', not in 'host'")
        if not _is_ipv6(value):
            raise refuse("expected a host name or an IP address")


def unbracketed(host: Any) -> Any:
    """Converter: an IPv6 address in brackets (``'[::1]'``, as urls write it)
    without them; any other value as given. Either spelling is accepted."""
    if isinstance(host, str) and host[:1] == "[" and host[-1:] == "]" and _is_ipv6(host[1:-1]):
        return host[1:-1]
    return host


def bracketed(host: str) -> str:
    """``host`` as a ``host:port`` string needs it: an IPv6 address in brackets."""
    return f"[{host}]" if _is_ipv6(host) else host


def _is_ipv6(value: str) -> bool:
    try:
        return ipaddress.ip_address(value).version == 6
    except ValueError:
        return False


def optional_str(
    *,
    secret: bool = False,
    allow_empty: bool = False,
    shown: Callable[[Any], str] | None = None,
) -> Any:
    """An attrs field: a string or None (default None), non-empty unless ``allow_empty``.

    A ``secret`` one (a password) shows as ``'***'`` in reprs (or as ``shown``
    makes it: a url with its password hidden) and is never shown in an error.
    """

    def check(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None or (isinstance(value, str) and (value or allow_empty)):
            return
        expected = "a string or None" if allow_empty else "a non-empty string or None"
        raise ConfigError(attribute.name, value, f"expected {expected}", show_value=not secret)

    if shown is None and secret:
        shown = _starred
    return attrs.field(
        default=None, validator=check, repr=shown or True, metadata={"secret": secret}
    )


def _starred(value: Any) -> str:
    return "None" if value is None else "'***'"


def positive_number(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    """Validator: a finite number greater than zero."""
    check_positive(attribute.name, value)


#: The longest duration any call takes (about 31 years): larger values overflow
#: the storages' clocks (Redis expiry, BSON dates) and are surely mistakes.
MAX_SECONDS = 1_000_000_000
#: The latest ``consumable_from`` (the end of year 9999, what dates can hold).
MAX_EPOCH = 253_402_300_799
#: Counts above this are taken as "as many as there are".
MAX_COUNT = 1_000_000_000


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def check_positive(field: str, value: Any) -> float:
    """Return ``value`` as a float if it is a finite number > 0 (seconds, at most
    :data:`MAX_SECONDS`), else raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(field, value, "expected a number of seconds greater than zero")
    if not _finite(value) or value <= 0:
        raise ConfigError(field, value, "expected a finite number greater than zero")
    if value > MAX_SECONDS:
        raise ConfigError(field, value, f"expected at most {MAX_SECONDS:,} seconds")
    return float(value)


def check_timeout(value: Any, field: str = "timeout") -> float | None:
    """Return a wait in seconds (a number >= 0) as float, or None (wait forever)."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not _finite(value)
        or value < 0
    ):
        raise ConfigError(field, value, "expected seconds (a finite number >= 0) or None")
    return float(min(value, MAX_SECONDS))


def in_range(low: int, high: int) -> Callable[..., None]:
    """Validator: an int within ``[low, high]``."""

    def check(_inst: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(
                attribute.name, value, f"expected a whole number from {low} to {high}"
            )

    return check


def check_name(value: Any, field: str) -> str:
    """Return ``value`` if it is a usable queue, key or lock name, else raise ConfigError."""
    if not isinstance(value, str) or not value:
        raise ConfigError(field, value, "expected a non-empty string")
    if len(value) > _MAX_NAME_LENGTH or "\x00" in value:
        raise ConfigError(
            field, value[:40] + "...", f"use at most {_MAX_NAME_LENGTH} characters and no NUL"
        )
    if not value.isascii():  # the usual names skip the encode
        check_unicode(value, field)
    return value


def check_unicode(value: str, field: str) -> str:
    """Return ``value`` if it can be encoded as UTF-8 (no lone surrogates), else ConfigError."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigError(
            field,
            value[:40],
            f"character {exc.start} is a lone surrogate, which no storage can hold; "
            "pass valid Unicode text (decode bytes with errors='replace')",
        ) from None
    return value


def check_queue_name(queue_name: Any) -> str:
    """Return ``queue_name`` if it is a usable queue name, else raise ConfigError."""
    return check_name(queue_name, "queue_name")


PRIORITIES = ("HIGH", "NORMAL")


def check_priority(priority: Any) -> str:
    """Return ``priority`` if it is ``'HIGH'`` or ``'NORMAL'``, else raise ConfigError."""
    if priority not in PRIORITIES:
        raise ConfigError("priority", priority, "use 'HIGH' or 'NORMAL'")
    return str(priority)


def check_item(item: Any, field: str = "item") -> bytes:
    """Return ``item`` if it is ``bytes``, else raise ConfigError."""
    if not isinstance(item, bytes):
        raise ConfigError(field, type(item).__name__, "items are bytes; encode them first")
    return item


def check_items(items: Any) -> list[bytes]:
    """Return ``items`` as a list of ``bytes``, else raise ConfigError naming the bad index."""
    if isinstance(items, bytes | str) or not hasattr(items, "__iter__"):
        raise ConfigError("items", type(items).__name__, "pass a list of bytes")
    result = list(items)
    for index, item in enumerate(result):
        check_item(item, f"items[{index}]")
    return result


def check_count(field: str, value: Any) -> int:
    """Return ``value`` if it is a whole number >= 1 (capped at :data:`MAX_COUNT`:
    every count is an "up to"), else raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(field, value, "expected a whole number of at least 1")
    return min(value, MAX_COUNT)


def check_consumable_from(value: Any) -> float | None:
    """Return ``value`` (epoch seconds) as float, or None; raise ConfigError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
        raise ConfigError("consumable_from", value, "expected epoch seconds (a number) or None")
    if value > MAX_EPOCH:
        raise ConfigError("consumable_from", value, "expected epoch seconds before year 10000")
    return float(value)


def check_receipts(receipts: Any) -> list[str]:
    """Return ``receipts`` as a list of strings, else raise ConfigError."""
    if isinstance(receipts, str | bytes) or not hasattr(receipts, "__iter__"):
        raise ConfigError("receipts", type(receipts).__name__, "pass a list of receipt strings")
    result = list(receipts)
    for index, receipt in enumerate(result):
        if not isinstance(receipt, str):
            raise ConfigError(
                f"receipts[{index}]", receipt, "receipts are the strings reserve gave"
            )
    return result


def check_ttl(value: Any) -> int:
    """Return a lock ttl in whole seconds (>= 1), else raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
        raise ConfigError("ttl", value, "expected a whole number of seconds of at least 1")
    if value < 1:
        raise ConfigError("ttl", value, "expected a whole number of seconds of at least 1")
    if value > MAX_SECONDS:
        raise ConfigError("ttl", value, f"expected at most {MAX_SECONDS:,} seconds")
    return math.ceil(value)


def check_set_ttl(value: Any) -> int:
    """Return the ttl of ``Lock.set_ttl`` in whole seconds: 0 (expire now, as
    Sergeant's backends do) or a :func:`check_ttl` value; else raise ConfigError."""
    if not isinstance(value, bool) and isinstance(value, int | float) and value == 0:
        return 0
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        raise ConfigError("ttl", value, "expected 0 (free the lock now) or seconds of at least 1")
    return check_ttl(value)
