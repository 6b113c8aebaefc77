"""Built-in generated tasks; importing this package registers them in ``TASKS``."""

from sandwich.tasks.builtin import arithmetic, cities, countries, dossier

__all__ = ["arithmetic", "cities", "countries", "dossier"]
