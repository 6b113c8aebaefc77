"""Elicitors: turn the strong model's features plus supervisor labels into predictions.

Importing this package registers every built-in elicitor in ``ELICITORS``.
"""

from sandwich.elicit import logconf, probe
from sandwich.elicit.base import Elicitor
from sandwich.elicit.logconf import LogConfProbe, logconf_loss
from sandwich.elicit.probe import LogisticProbe
from sandwich.elicit.registry import ELICITORS

__all__ = [
    "ELICITORS",
    "Elicitor",
    "LogConfProbe",
    "LogisticProbe",
    "logconf",
    "logconf_loss",
    "probe",
]
