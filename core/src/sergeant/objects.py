"""Sergeant's ``sergeant.objects`` module name, kept so type hints such as
``task: sergeant.objects.Task`` written for Sergeant keep working."""

from __future__ import annotations

from sergeant.task import Task

__all__ = ["Task"]
