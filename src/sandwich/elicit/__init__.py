"""Elicitors: turn the strong model (its features, or its weights) plus supervisor labels
into predictions.

:data:`ELICITORS` lists the built-ins lazily; the classes import on first use
(``from sandwich.elicit import LogisticProbe`` imports only the probe's module).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sandwich.elicit.base import CellInputs, Elicitor, ElicitorBase, TextElicitor
from sandwich.elicit.registry import ELICITORS

if TYPE_CHECKING:
    from sandwich.elicit.finetune import FineTuneElicitor
    from sandwich.elicit.logconf import LogConfProbe, logconf_loss
    from sandwich.elicit.probe import LogisticProbe

_LAZY = {
    "FineTuneElicitor": "sandwich.elicit.finetune",
    "LogConfProbe": "sandwich.elicit.logconf",
    "logconf_loss": "sandwich.elicit.logconf",
    "LogisticProbe": "sandwich.elicit.probe",
}

__all__ = [
    "ELICITORS",
    "CellInputs",
    "Elicitor",
    "ElicitorBase",
    "FineTuneElicitor",
    "LogConfProbe",
    "LogisticProbe",
    "TextElicitor",
    "logconf_loss",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'sandwich.elicit' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
