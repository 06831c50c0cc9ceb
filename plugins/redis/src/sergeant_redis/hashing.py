"""Rendezvous (highest random weight) hashing: which node holds a key or a lock.

Each node scores every name with a hash of ``(node name, name)``; the
highest score wins. The node's name is its ``name`` param, else its position
in ``nodes`` (:mod:`sergeant._node_names`), never its host as spelled, so
processes that spell a server ``localhost``, ``127.0.0.1`` or as a url agree;
adding a node moves only the names that now score highest on it (about
``1/len(nodes)`` of them).
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
