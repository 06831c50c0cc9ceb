"""Param names that look like a secret's, shared by the tests of :mod:`sergeant.redaction`.

``core/tests/test_redact.py`` checks each is hidden by the helper itself, and
``tests/reliability/test_url_secrets.py`` checks that no backend, repr, error or CLI
run shows a value stored under one.
"""

from __future__ import annotations

__all__ = ["SECRET_LOOKING_KEYS"]

#: Misspelt, abbreviated, prefixed, upper- and camel-cased names, beyond the exact
#: ones of :data:`sergeant.redaction.SECRET_KEYS`.
SECRET_LOOKING_KEYS = (
    "pasword",
    "passwrd",
    "Password",
    "PASSWORD",
    "pwd",
    "pw",
    "db_pw",
    "pword",
    "passphrase",
    "api_token",
    "apiToken",
    "AUTH_TOKEN",
    "access_token",
    "secret_key",
    "client_secret",
    "credentials",
    "private_key",
    "sslPassword",
)
