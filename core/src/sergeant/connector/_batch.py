"""What one reserve hands out, and the receipts that ack it whole.

A backend returns a :class:`Batch` from ``do_reserve``: the deliveries plus an
opaque ``handle`` of its own choosing (a lease row, a call token...). When the
caller later acks exactly that batch it passes :meth:`Batch.receipts`, a
:class:`Receipts` carrying the same handle, and the backend can settle the whole
batch without parsing a receipt per item. Receipts from anywhere else arrive
with ``handle`` None, and so do a batch or receipts changed in place (an item
replaced, removed or added: the handle would name other items). The handle is
only a shortcut: backends still check every lease as for any receipt.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sergeant.connector import Delivery

__all__ = ["Batch", "Receipts"]

_receipt_of = operator.itemgetter(1)


class Receipts(list[str]):
    """Checked receipts as a backend's primitives receive them.

    :ivar handle: the backend's handle when these are all the receipts of one
        :class:`Batch` in order (from :meth:`Batch.receipts`), else None.
    """

    __slots__ = ("handle",)

    def __init__(self, receipts: Iterable[str] = (), handle: object = None) -> None:
        super().__init__(receipts)
        self.handle = handle


class Batch(list["Delivery"]):
    """The deliveries of one reserve, in order, with the backend's ``handle``.

    A plain list of :class:`~sergeant.connector.Delivery` to every caller; only
    :meth:`receipts` uses the handle.
    """

    __slots__ = ("handle",)

    def __init__(self, deliveries: Iterable[Delivery] = (), handle: object = None) -> None:
        super().__init__(deliveries)
        self.handle = handle

    def grow(self, deliveries: Iterable[Delivery]) -> None:
        """For the backend building the batch: add ``deliveries``, keeping the
        handle (any other change in place drops it)."""
        list.extend(self, deliveries)

    def receipts(self) -> Receipts:
        """Every receipt of this batch, in order, carrying its handle: acking
        them is the backend's fast path."""
        return Receipts(map(_receipt_of, self), self.handle)


#: The list methods that change a list in place: any of them makes a batch or
#: its receipts something other than what the handle names, so it drops it.
_MUTATORS = (
    "__setitem__",
    "__delitem__",
    "__iadd__",
    "__imul__",
    "append",
    "extend",
    "insert",
    "pop",
    "remove",
    "clear",
    "sort",
    "reverse",
)


def _forgetting(name: str) -> Callable[..., Any]:
    change = getattr(list, name)

    def forget(self: Batch | Receipts, *args: Any, **kwargs: Any) -> Any:
        self.handle = None
        return change(self, *args, **kwargs)

    forget.__name__ = name
    forget.__doc__ = change.__doc__
    return forget


for _cls in (Batch, Receipts):
    for _name in _MUTATORS:
        setattr(_cls, _name, _forgetting(_name))
del _cls, _name
