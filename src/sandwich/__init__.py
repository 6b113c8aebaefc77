"""sandwich: a lab for aligning narrowly superhuman models.

The public Python API lives in the subpackages (``sandwich.tasks``,
``sandwich.models``, ``sandwich.supervision``, ``sandwich.elicit``,
``sandwich.metrics``, ``sandwich.runs``, ``sandwich.report``).
"""

__version__ = "0.1.0"
