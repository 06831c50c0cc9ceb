"""Rendezvous (highest random weight) hashing: which node holds a key or a lock.

Each node scores every name with a hash of ``(node identity, name)``; the
highest score wins. The choice depends only on the node's identity
(``host:port/database``), not on its position in ``nodes``, so every process
agrees, and adding a node moves only the names that now score highest on it
(about ``1/len(nodes)`` of them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["rendezvous"]


def _weight(identity: str, name: str) -> int:
    digest = hashlib.blake2b(f"{identity}\x00{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rendezvous(identities: Sequence[str], name: str) -> int:
    """The index in ``identities`` of the node that owns ``name``."""
    if len(identities) == 1:
        return 0
    return max(range(len(identities)), key=lambda i: _weight(identities[i], name))
