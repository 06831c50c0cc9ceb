"""Hide credentials before anything is shown: a public helper for plugin authors.

Anything a connector shows (its ``repr``, a log line, an error message, a
``ConfigError`` value) may hold the params users gave it, and those hold
passwords. Pass it through :func:`redact` first::

    from sergeant.redaction import redact

    raise ConfigError("nodes[0]", redact(node), "give host and port")
    log.warning("node %s is down", redact(url))

:func:`redact` walks dicts, lists and tuples and hides the values under
secret-looking names (:func:`is_secret_key`: ``password``, ``pwd``,
``api_token``, ``sslPassword``, misspellings included) and the whole userinfo
of anything URL-shaped (:func:`redact_text`: ``redis://user:pw@host`` becomes
``redis://***@host``, also when ``://`` is mistyped or missing) and the values
of query parameters that are secrets (``?tlsCertificateKeyFilePassword=***``,
``authMechanismProperties=***`` holding ``AWS_SESSION_TOKEN:...``). It returns a
copy; the value given is left untouched. A repr that must stay correct for
values of any shape can use it as ``repr(redact(params))``.

:func:`freeze` makes params hashable (``sergeant.config.Connector`` compares
and hashes its params with it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["REDACTED", "SECRET_KEYS", "freeze", "is_secret_key", "redact", "redact_text"]

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

#: Parts of a name that make it look like a secret's, misspellings included
#: (``pasword``, ``passwrd``, ``pwd``, ``db_pw``, ``api_key``, ``AUTH_TOKEN``...): a
#: value hidden by mistake costs a look at the config, a shown one a leaked secret.
_SECRET_NAME = re.compile(
    r"pass|pa?s+w|pwd|pword|(?<![a-z])pw(?![a-z])|secret|token|key|cred", re.IGNORECASE
)

#: Where a URL's userinfo may start: after its scheme and ``//``, also as mistyped
#: (``redis:/``, ``redis:``, ``redis: //``, ``redis:\\``), after a bare ``//``, or
#: at a ``:`` opening the text or a word (``:password@host``). A ``user:`` with no
#: scheme before it starts one too. The userinfo runs to the last ``@`` after it.
_USERINFO_START = re.compile(
    r"(?:\b[a-z][a-z0-9+.-]*:|//|(?:^|(?<=[\s'\"=(\[{,]))(?=:))[\s/\\]*", re.IGNORECASE
)
REDACTED = "***"


def is_secret_key(key: str) -> bool:
    """True when a value stored under the name ``key`` must never be shown."""
    return key.lower() in SECRET_KEYS or _SECRET_NAME.search(key) is not None


#: A query parameter (``?name=value``, ``&name=value``, ``;name=value``).
_QUERY_PARAM = re.compile(r"([?&;])([^=&;#\s'\"]+)=([^&;#\s'\"]*)")


def _query_param(match: re.Match[str]) -> str:
    """A query parameter with its value hidden when it is a secret: under a
    secret-looking name (``tlsCertificateKeyFilePassword``), or holding one as
    ``NAME:value`` pairs (``authMechanismProperties=AWS_SESSION_TOKEN:...``)."""
    sep, name, value = match.groups()
    pairs = [part.split(":", 1)[0] for part in value.split(",") if ":" in part]
    if is_secret_key(name) or any(is_secret_key(pair) for pair in pairs):
        return f"{sep}{name}={REDACTED}"
    return match[0]


def redact_text(text: str) -> str:
    """``text`` with the userinfo of every URL in it replaced by ``***``, and
    the values of secret query parameters (:func:`_query_param`).

    The userinfo is taken to be everything between ``scheme://`` and the LAST
    ``@`` after it, whatever characters lie between: an unencoded ``/``, ``#``,
    ``?``, ``:`` or ``@`` in a password makes URL parsers split it elsewhere, and
    any such split could show part of it. A mistyped ``://`` (``redis:/``,
    ``redis:``) or none (``user:password@host``) does not make it any less a
    secret (:data:`_USERINFO_START`). Hiding a host, or text, that happens to come
    before a later ``@`` is the price of that.
    """
    if "=" in text:
        text = _QUERY_PARAM.sub(_query_param, text)
    found = _USERINFO_START.search(text)
    if found is None:
        return text
    at = text.rfind("@", found.end())
    if at < 0:
        return text
    return f"{text[: found.end()]}{REDACTED}{text[at:]}"


def redact(value: Any, key: str = "") -> Any:
    """A copy of ``value`` with secrets replaced by ``***``, recursing into containers.

    Secrets are the values under secret-looking names (:func:`is_secret_key`)
    and the userinfo of anything URL-shaped (:func:`redact_text`).
    """
    if value is not None and key and is_secret_key(key):
        return REDACTED
    if isinstance(value, Mapping):
        return {
            (redact_text(k) if isinstance(k, str) else k): redact(v, str(k))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    if isinstance(value, str):
        return redact_text(value)
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
