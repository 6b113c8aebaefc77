"""The task registry: built-in generated tasks register here by name."""

from __future__ import annotations

from sandwich.registry import Registry
from sandwich.tasks.task import Task

TASKS: Registry[Task] = Registry("task")
