"""Tasks: named sets of true/false Items with a seeded A/B/T split.

Built-in generated tasks live in :data:`TASKS` (``cities``, ``capitals``,
``continents``, ``currencies``, ``borders``, ``larger-city``, ``arithmetic``);
user data comes from files (:func:`load_task_file`) or ``datasets``
(:func:`load_hf_task`); :func:`load_task` is the single entry point.
Items sharing a ``group`` stay in one split; :mod:`sandwich.tasks.leakage`
reports what still leaks between splits.
"""

from sandwich.tasks.files import load_task_file
from sandwich.tasks.hf import load_hf_task
from sandwich.tasks.item import Item
from sandwich.tasks.load import load_task
from sandwich.tasks.registry import TASKS
from sandwich.tasks.task import Splits, SplitSizes, Task

__all__ = [
    "TASKS",
    "Item",
    "SplitSizes",
    "Splits",
    "Task",
    "load_hf_task",
    "load_task",
    "load_task_file",
]
