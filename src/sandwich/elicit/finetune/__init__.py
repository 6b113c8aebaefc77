"""Fine-tuning elicitors: the strong model trained with a zero-initialised head.

``LOSSES`` lists the losses (``xent``, ``logconf``, ``product``) with their
Params; ``FineTuneElicitor`` (torch) imports on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sandwich.elicit.finetune.registry import LOSSES

if TYPE_CHECKING:
    from sandwich.elicit.finetune.elicitor import FineTuneElicitor

__all__ = ["LOSSES", "FineTuneElicitor"]


def __getattr__(name: str) -> Any:
    if name != "FineTuneElicitor":
        raise AttributeError(f"module 'sandwich.elicit.finetune' has no attribute {name!r}")
    from sandwich.elicit.finetune.elicitor import FineTuneElicitor

    return FineTuneElicitor
