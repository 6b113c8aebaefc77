"""The task registry: every built-in generated task, by name, imported on first use.

Each entry's function declares its parameters as a pydantic ``Params`` model
(``sandwich tasks --params NAME``); ``n_items`` and ``seed`` are common to all.
"""

from __future__ import annotations

from sandwich.registry import Registry
from sandwich.tasks.task import Task

TASKS: Registry[Task] = Registry("task")

_B = "sandwich.tasks.builtin"
TASKS.lazy("arithmetic", f"{_B}.arithmetic:arithmetic_task",
           '"{a} + {b} = {c}." (fast; for tests with the fake model)')  # fmt: skip
TASKS.lazy("borders", f"{_B}.countries:borders_task",
           '"{country A} shares a border with {country B}."')  # fmt: skip
TASKS.lazy("capitals", f"{_B}.countries:capitals_task", '"{city} is the capital of {country}."')
TASKS.lazy("cities", f"{_B}.cities:cities_task",
           '"The city of {city} is in {country}." (the main demo task)')  # fmt: skip
TASKS.lazy("continents", f"{_B}.countries:continents_task", '"{country} is in {continent}."')
TASKS.lazy("currencies", f"{_B}.countries:currencies_task",
           '"The currency of {country} is the {currency}."')  # fmt: skip
TASKS.lazy("dossier", f"{_B}.dossier:dossier_task",
           "passage of country facts (the assistant sees it) + a question")  # fmt: skip
TASKS.lazy("larger-city", f"{_B}.cities:larger_city_task",
           '"{city A} has more inhabitants than {city B}."')  # fmt: skip
