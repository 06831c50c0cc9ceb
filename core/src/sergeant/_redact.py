"""Deprecated private name of :mod:`sergeant.redaction`, kept for code not yet moved to it."""

from __future__ import annotations

from sergeant.redaction import REDACTED, SECRET_KEYS, freeze, is_secret_key, redact, redact_text

__all__ = ["REDACTED", "SECRET_KEYS", "freeze", "is_secret_key", "redact", "redact_text"]
