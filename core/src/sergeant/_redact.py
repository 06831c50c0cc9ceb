"""Hide credentials before anything is shown in a repr, a log line or an error."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["SECRET_KEYS", "freeze", "redact"]

#: Param names whose values are secrets wherever they appear.
SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "secret",
        "token",
        "ssl_password",
        "ssl_keyfile_password",
        "tls_certificate_key_file_password",
        "api_key",
    }
)

_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:@/]*):(?P<pw>[^@/]*)@", re.I
)
REDACTED = "***"


def redact(value: Any, key: str = "") -> Any:
    """A copy of ``value`` with secrets replaced by ``***``, recursing into containers."""
    if key.lower() in SECRET_KEYS and value is not None:
        return REDACTED
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    if isinstance(value, str):
        return _URL_CREDENTIALS.sub(rf"\g<scheme>\g<user>:{REDACTED}@", value)
    return value


def freeze(value: Any) -> Any:
    """A hashable equivalent of ``value``: mappings become sorted tuples, lists tuples."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    if isinstance(value, set | frozenset):
        return frozenset(freeze(v) for v in value)
    return value
