"""RMSNorm for feature extraction without a float32 copy of the hidden states.

Why: transformers' RMSNorm modules (Llama, Qwen, Mistral, Gemma, ...) compute
in float32 whatever the model's dtype: ``x.float()``, ``pow(2)``, ``mean``, two
multiplications, and a cast back. In bfloat16 that is five passes over the
hidden states, three of them over a float32 copy twice their size, for an op
that reads one vector per token; the matrix products around it run ~2x faster
in bf16 on a CPU with bf16 units, the norm does not (``benchmarks/bf16_profile.py``:
on gemma3-270m, whose blocks hold six norms each, the norms' conversions and
``pow`` took ~80 ms of bf16's ~1250 ms forward, more than in float32).

:class:`FastRMSNorm` computes the same function in three passes in the input's
dtype: the sum of squares accumulated in float32 by
``torch.linalg.vector_norm(..., dtype=float32)`` (no float32 copy), the
per-token scale ``rsqrt(mean + eps)`` in float32 on one value per token, then
``x * scale * w`` in the input's dtype. In float32 it equals the original to
float32 rounding; in bfloat16 the scale and the product are rounded to bf16
where the original rounds once, a relative change of a few 1e-3 per token,
well inside the precision check's tolerance (:mod:`sandwich.models.precision`).
The same module is used in float32 and bfloat16, so the comparison of the two
dtypes stays one factor at a time.

:func:`speed_up_norms` swaps it in for every module of a class named
``*RMSNorm`` with a 1-d ``weight`` and an epsilon, after checking on a seeded
input that one of the two weight conventions reproduces that class's own output
in float32: ``x_hat * w`` (Llama's) or ``x_hat * (1 + w)`` (Gemma's). A class
that matches neither (a new variant) keeps its own forward. Only inference is
swapped: the training paths build their own backbones.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import torch
from torch import nn

log = logging.getLogger(__name__)

Convention = Literal["scale", "unit-offset"]
CONVENTIONS: tuple[Convention, ...] = ("scale", "unit-offset")
CHECK_TOLERANCE = 1e-5  # relative L2 per token, float32, against the original forward
_EPS_NAMES = ("eps", "variance_epsilon")


class FastRMSNorm(nn.Module):
    """``x / rms(x) * w`` (or ``* (1 + w)``), the statistic in float32, the rest in x's dtype."""

    def __init__(self, weight: nn.Parameter, eps: float, convention: Convention) -> None:
        super().__init__()
        self.weight = weight
        self.eps = float(eps)
        self.convention = convention

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squares = torch.linalg.vector_norm(x, dim=-1, keepdim=True, dtype=torch.float32)
        scale = torch.rsqrt(squares.square() / x.shape[-1] + self.eps).to(x.dtype)
        offset = self.convention == "unit-offset"
        w = (self.weight.float() + 1.0 if offset else self.weight).to(x.dtype)
        if torch.is_inference_mode_enabled():  # no autograd: reuse the product's buffer
            return torch.mul(x, scale).mul_(w)
        return x * scale * w

    def extra_repr(self) -> str:
        return f"{tuple(self.weight.shape)}, eps={self.eps}, {self.convention}"


def _eps(module: nn.Module) -> float | None:
    for name in _EPS_NAMES:
        value = getattr(module, name, None)
        if isinstance(value, float):
            return value
    return None


def _candidate(module: nn.Module) -> tuple[nn.Parameter, float] | None:
    """(weight, eps) of an RMSNorm-like module, or None for anything else."""
    if not type(module).__name__.endswith("RMSNorm") or isinstance(module, FastRMSNorm):
        return None
    weight, eps = getattr(module, "weight", None), _eps(module)
    if not isinstance(weight, nn.Parameter) or weight.dim() != 1 or eps is None:
        return None
    return weight, eps


def convention_of(module: nn.Module) -> Convention | None:
    """Which weight convention reproduces ``module``'s forward in float32, or None.

    Checked on a seeded random input and a copy of the module with a seeded random
    weight (so the two conventions differ whatever the real weight is).
    """
    found = _candidate(module)
    if found is None:
        return None
    weight, eps = found
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, weight.numel(), generator=gen) * 3.0
    w = nn.Parameter(torch.randn(weight.numel(), generator=gen) * 0.5)
    original = _with_weight(module, w)
    with torch.inference_mode():
        try:
            want = original(x).float()
        except Exception as exc:  # an unknown variant keeps its own forward
            log.debug("%s: not swapped (%s)", type(module).__name__, exc)
            return None
        for convention in CONVENTIONS:
            got = FastRMSNorm(w, eps, convention)(x)
            err = ((got - want).norm(dim=-1) / want.norm(dim=-1).clamp_min(1e-12)).max()
            if float(err) <= CHECK_TOLERANCE:
                return convention
    return None


def _with_weight(module: nn.Module, weight: nn.Parameter) -> nn.Module:
    """A float32 copy of ``module`` whose weight is ``weight`` (the module itself is untouched)."""
    import copy

    clone = copy.deepcopy(module).float()
    clone.weight = weight
    return clone


def speed_up_norms(module: nn.Module) -> dict[str, int]:
    """Swap :class:`FastRMSNorm` in for every checked RMSNorm in ``module`` (in place).

    Returns how many modules of each class were swapped (a class that failed its
    check is absent). Parameters are shared, not copied: the state dict is unchanged.
    """
    conventions: dict[type, Convention | None] = {}
    swapped: dict[str, int] = {}
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            found = _candidate(child)
            if found is None:
                continue
            cls = type(child)
            if cls not in conventions:
                conventions[cls] = convention_of(child)
                if conventions[cls] is None:
                    log.info("%s: its forward matches no RMSNorm convention; kept", cls.__name__)
            convention = conventions[cls]
            if convention is None:
                continue
            setattr(parent, name, FastRMSNorm(found[0], found[1], convention))
            swapped[cls.__name__] = swapped.get(cls.__name__, 0) + 1
    return swapped


def swapped_count(module: Any) -> int:
    """How many :class:`FastRMSNorm` modules ``module`` holds."""
    return sum(isinstance(m, FastRMSNorm) for m in module.modules())
