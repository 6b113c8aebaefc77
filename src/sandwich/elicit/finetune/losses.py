"""Training losses of the fine-tuning elicitor, as pure functions (Burns et al. 2023).

Every loss takes the classifier's two-class ``logits`` (batch, 2), the soft
labels ``labels`` (batch,) = P(true) given by the supervisor, and
``step_frac`` (the share of training done, in [0, 1]), plus keyword
parameters; it returns the mean loss over the batch (a scalar tensor).

- ``xent``: cross-entropy against the soft labels (naive fine-tuning).
- ``logconf``: cross-entropy against ``(1 - a) * labels + a * hardened``, where
  ``hardened`` are the student's own predictions thresholded at the batch
  quantile that gives them the batch's share of weak positives (the whole
  optimizer batch, as in the reference, also under gradient accumulation:
  the trainer passes the batch's logits), and ``a``
  rises linearly from 0 to ``aux_weight`` over the first ``warmup_frac`` of
  training (the same recipe as the ``probe-logconf`` elicitor; defaults from the
  paper: ``aux_weight=0.75`` for large gaps, warm-up over the first 20%).
- ``product``: cross-entropy against the normalised product
  ``labels**alpha * preds**beta`` (the reference code's third loss), so the
  student down-weights weak labels it confidently disagrees with.

A new loss is one function registered with its Params model,
``@LOSSES.register("name", params=MyParams)`` (the built-ins are listed
lazily in :mod:`sandwich.elicit.finetune.registry`).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from sandwich.elicit.finetune.registry import LOSSES  # noqa: F401  (where tests and plugins look)
from sandwich.elicit.logconf import mixed_targets, warmup_weight


def two_class(labels: torch.Tensor) -> torch.Tensor:
    """P(true) (batch,) -> [P(false), P(true)] (batch, 2)."""
    p = labels.float().clamp(0.0, 1.0)
    return torch.stack([1.0 - p, p], dim=-1)


def _check(logits: torch.Tensor, labels: torch.Tensor) -> None:
    if logits.ndim != 2 or logits.shape[1] != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(
            f"a loss takes logits (batch, 2) and labels (batch,), got {tuple(logits.shape)} "
            f"and {tuple(labels.shape)}"
        )


def xent(logits: torch.Tensor, labels: torch.Tensor, step_frac: float = 0.0) -> torch.Tensor:
    _check(logits, labels)
    return F.cross_entropy(logits.float(), two_class(labels))


def logconf(
    logits: torch.Tensor,
    labels: torch.Tensor,
    step_frac: float = 0.0,
    aux_weight: float = 0.75,
    warmup_frac: float = 0.2,
    batch_logits: torch.Tensor | None = None,
    batch_labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """``batch_logits``/``batch_labels``: the whole optimizer batch this minibatch belongs to
    (given by the trainer under gradient accumulation); the hardening threshold is taken
    over them, as in the reference, which computes the loss once per batch. Without them
    the call's own items are the batch."""
    _check(logits, labels)
    logits = logits.float()
    a = warmup_weight_frac(step_frac, aux_weight, warmup_frac)
    batch: tuple[torch.Tensor, torch.Tensor] | tuple[()] = ()
    if a > 0 and batch_logits is not None and batch_labels is not None:
        _check(batch_logits, batch_labels)
        batch = (batch_logits[:, 1] - batch_logits[:, 0], batch_labels)
    z = logits[:, 1] - logits[:, 0]  # the log-odds of "true"
    target_true = mixed_targets(z, labels.float().clamp(0.0, 1.0), a, *batch)
    return F.cross_entropy(logits, two_class(target_true))


def warmup_weight_frac(step_frac: float, aux_weight: float, warmup_frac: float) -> float:
    """The auxiliary weight after ``step_frac`` of training (linear warm-up)."""
    return warmup_weight(step=round(step_frac * 10**6), total_steps=10**6,
                         aux_weight=aux_weight, warmup_frac=warmup_frac)  # fmt: skip


def product(
    logits: torch.Tensor,
    labels: torch.Tensor,
    step_frac: float = 0.0,
    alpha: float = 1.0,
    beta: float = 1.0,
) -> torch.Tensor:
    _check(logits, labels)
    logits = logits.float()
    preds = torch.softmax(logits, dim=-1)
    target = two_class(labels).pow(alpha) * preds.pow(beta)
    target = (target / target.sum(dim=-1, keepdim=True).clamp_min(1e-12)).detach()
    return F.cross_entropy(logits, target)
