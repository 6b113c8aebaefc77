"""Built-in generated tasks; importing this package registers them in ``TASKS``."""

from sandwich.tasks.builtin import arithmetic, cities, countries

__all__ = ["arithmetic", "cities", "countries"]
