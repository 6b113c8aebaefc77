"""The loss registry of the fine-tuning elicitor, with each loss's typed parameters.

A loss is a pure function in :mod:`sandwich.elicit.finetune.losses` (torch),
listed here lazily with its pydantic Params, so a config's ``loss_params``
are validated without importing torch. Together the Params form a union
discriminated by the elicitor's ``loss`` field: ``loss: logconf`` selects
:class:`LogconfParams` for ``loss_params``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from sandwich.config import Strict
from sandwich.registry import NoParams, Registry

LOSSES: Registry[Any] = Registry("loss")


class LogconfParams(Strict):
    """The auxiliary confidence loss (Burns et al. 2023, "Weak-to-strong generalization")."""

    aux_weight: float = Field(
        0.75, ge=0.0, le=1.0, description="final weight of the hardened targets (paper: 0.75)"
    )
    warmup_frac: float = Field(
        0.2, ge=0.0, le=1.0, description="share of training the weight rises over (paper: 20%)"
    )


class ProductParams(Strict):
    """Targets ``labels**alpha * preds**beta`` (openai/weak-to-strong's third loss)."""

    alpha: float = Field(1.0, ge=0.0, description="exponent of the supervisor's labels")
    beta: float = Field(1.0, ge=0.0, description="exponent of the student's predictions")


_L = "sandwich.elicit.finetune.losses"
LOSSES.lazy("logconf", f"{_L}:logconf", "auxiliary confidence loss (Burns et al. 2023)",
            params=LogconfParams)  # fmt: skip
LOSSES.lazy("product", f"{_L}:product", "cross-entropy against labels**alpha * preds**beta",
            params=ProductParams)  # fmt: skip
LOSSES.lazy("xent", f"{_L}:xent", "cross-entropy against the soft labels (naive)",
            params=NoParams)  # fmt: skip
