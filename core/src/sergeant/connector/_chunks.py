"""Bulk pushes stored in slices, with what a failure part-way leaves said exactly."""

from __future__ import annotations

from collections.abc import Callable

from sergeant.errors import PartialPushError, StorageError

__all__ = ["push_in_chunks"]


def push_in_chunks(items: list[bytes], size: int, push: Callable[[list[bytes]], object]) -> None:
    """Store ``items`` by calling ``push`` on consecutive slices of at most
    ``size``, in order. A :class:`~sergeant.errors.StorageError` from a slice
    after the first becomes :class:`~sergeant.errors.PartialPushError` saying
    how many items the earlier slices stored, so the caller pushes only the
    rest again; one from the first slice is raised as it is (nothing was
    stored by an earlier slice)."""
    for start in range(0, len(items), size):
        try:
            push(items[start : start + size])
        except StorageError as exc:
            if not start:
                raise
            raise PartialPushError(str(exc), start, len(items)) from exc
