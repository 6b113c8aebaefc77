"""A minimal AdamW over a few torch tensors, for small probes trained with closed-form gradients.

Same update as ``torch.optim.AdamW`` (bias-corrected moments, decoupled weight
decay) except that epsilon sits inside the square root,
``m_hat / sqrt(v_hat + eps**2)``. Written out because ``torch.optim`` runs
many tiny ops per step, and some (``sqrt`` among them) enter a parallel region
that stalls for milliseconds when the two CPU cores are shared.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class AdamW:
    def __init__(
        self,
        params: Sequence[torch.Tensor],
        lr: float,
        weight_decay: float = 0.0,
        decay_mask: Sequence[bool] | None = None,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params = list(params)
        self.lr = lr
        self.weight_decay = weight_decay
        self.decay_mask = list(decay_mask) if decay_mask is not None else [True] * len(self.params)
        self.betas = betas
        self.eps = eps
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor]) -> None:
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        for p, g, m, v, decay in zip(
            self.params, grads, self.m, self.v, self.decay_mask, strict=True
        ):
            if decay and self.weight_decay:
                p.mul_(1 - self.lr * self.weight_decay)
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            p.sub_(m * torch.rsqrt(v / c2 + self.eps**2), alpha=self.lr / c1)
