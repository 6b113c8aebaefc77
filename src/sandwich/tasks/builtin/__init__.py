"""Built-in generated tasks; :data:`sandwich.tasks.TASKS` lists them lazily by module."""
