"""One capability mechanism: what a backend declares is what it implements.

A connector class lists its capabilities in ``capabilities``. Each capability
names the primitives it needs; :func:`check_declared` runs when the class is
defined and refuses a class that declares a capability without implementing
its primitives, or implements an optional fast path without declaring it. The
worker, the broker and the conformance kit read ``capabilities`` and nothing
else.
"""

from __future__ import annotations

from collections.abc import Mapping

from sergeant.legacy import MIGRATE_LEGACY

__all__ = [
    "ACK_AND_RESERVE",
    "BASIC",
    "CAPABILITIES",
    "MIGRATE_LEGACY",
    "OPTIONAL",
    "PEEK",
    "PREFETCH",
    "PRIMITIVES",
    "check_declared",
]

#: Acks and the next reserve in one round trip or transaction (``do_ack_and_reserve``).
ACK_AND_RESERVE = "ack_and_reserve"
#: Send an ack-and-reserve now, read its reply later (``do_ack_and_reserve_begin``):
#: the worker prefetches with it.
PREFETCH = "prefetch"
#: Read ready items without taking them (``do_peek``): dead letters are listed with it.
PEEK = "peek"

#: The primitives each capability needs. ``queue`` is always required;
#: ``priority``, ``delay`` and ``bulk`` are what the queue primitives honour.
PRIMITIVES: Mapping[str, tuple[str, ...]] = {
    "queue": ("do_push", "do_pop", "do_length", "do_delete"),
    "priority": (),
    "delay": (),
    "bulk": (),
    "reserve": ("do_reserve", "do_ack", "do_release", "do_extend"),
    "keys": ("do_key_set", "do_key_get", "do_key_delete"),
    "locks": ("do_lock",),
    "stats": ("do_stats", "do_queue_names"),
    ACK_AND_RESERVE: ("do_ack_and_reserve",),
    PREFETCH: ("do_ack_and_reserve_begin",),
    PEEK: ("do_peek",),
    MIGRATE_LEGACY: ("do_migrate_legacy",),
}

#: What a class declares when it says nothing: every basic capability.
BASIC: frozenset[str] = frozenset(
    {"queue", "priority", "delay", "bulk", "reserve", "keys", "locks", "stats"}
)
#: Fast paths and extras a backend declares only if it implements them.
OPTIONAL: frozenset[str] = frozenset({ACK_AND_RESERVE, PREFETCH, PEEK, MIGRATE_LEGACY})
#: Every capability a connector may declare.
CAPABILITIES: frozenset[str] = BASIC | OPTIONAL


def check_declared(cls: type, base: type) -> None:
    """Refuse ``cls`` (a subclass of the contract ``base``) when its declared
    capabilities and its implemented primitives disagree.

    :raises TypeError: naming the class, the capability, the primitive and the fix.
    """
    if not hasattr(cls, "type_name"):  # an abstract layer between the contract and a backend
        return
    declared = getattr(cls, "capabilities", BASIC)
    unknown = sorted(set(declared) - CAPABILITIES)
    if unknown:
        raise TypeError(
            f"{cls.__qualname__}.capabilities has unknown entries {unknown}:"
            f" use only {sorted(CAPABILITIES)}"
        )
    if "queue" not in declared:
        raise TypeError(f"{cls.__qualname__}.capabilities must include 'queue'")
    for capability, primitives in PRIMITIVES.items():
        for name in primitives:
            implemented = getattr(cls, name, None) is not getattr(base, name, None)
            if capability in declared and not implemented and capability != "queue":
                raise TypeError(
                    f"{cls.__qualname__} declares the capability {capability!r} but does not"
                    f" implement {name}(): implement it, or leave {capability!r} out of"
                    " capabilities"
                )
            if capability not in declared and implemented and capability in OPTIONAL:
                raise TypeError(
                    f"{cls.__qualname__} implements {name}() but does not declare the"
                    f" capability {capability!r}: add it to capabilities, or the worker"
                    " and the conformance kit will never use it"
                )
