"""The task: what a producer pushes and a worker's ``work`` receives.

Defined in :mod:`sergeant.objects` (Sergeant's module name for it).
"""

from __future__ import annotations

from sergeant.objects import Task

__all__ = ["Task"]
