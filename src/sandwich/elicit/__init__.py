"""Elicitors: turn the strong model (its features, or its weights) plus supervisor labels
into predictions.

Importing this package registers every built-in elicitor in ``ELICITORS``.
"""

from sandwich.elicit import finetune, logconf, probe
from sandwich.elicit.base import CellInputs, Elicitor, ElicitorBase, TextElicitor
from sandwich.elicit.finetune import FineTuneElicitor
from sandwich.elicit.logconf import LogConfProbe, logconf_loss
from sandwich.elicit.probe import LogisticProbe
from sandwich.elicit.registry import ELICITORS

__all__ = [
    "ELICITORS",
    "CellInputs",
    "Elicitor",
    "ElicitorBase",
    "FineTuneElicitor",
    "LogConfProbe",
    "LogisticProbe",
    "TextElicitor",
    "finetune",
    "logconf",
    "logconf_loss",
    "probe",
]
