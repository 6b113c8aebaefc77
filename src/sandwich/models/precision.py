"""Choosing float32 or bfloat16 by measuring, once per machine.

bfloat16 is several times faster than float32 where the hardware has bf16
units (AVX-512-BF16 / AMX on x86 CPUs, every recent GPU) and several times
*slower* where it has not (the CPU emulates it). A fixed default is wrong on one
of the two, so ``dtype: auto`` measures instead:

- a micro-benchmark on the shape class of the model (its hidden size; a
  Llama-style pre-norm block: q/k/v/o projections, causal SDPA attention, a
  gated MLP of 4x the hidden size, at feature-extraction sizes: 512 tokens as 16
  sequences of 32) timed in float32 and in bfloat16 — the MLP projections on
  their own and a forward of one such block — interleaved, best of up to five
  rounds (no new round after 1.5 s), so a busy machine slows both alike. Where
  one small Linear (64 tokens) already runs at under half of fp32's speed in bf16
  (emulated bf16), the measurement ends there, in well under a second;
- a numerical check on a fixed seeded input: the output of two blocks in bfloat16
  against float32, the largest relative L2 error over tokens (and the smallest
  cosine);
- the rule: bfloat16 only when it is at least :data:`MIN_SPEEDUP` (1.2x) faster
  *and* changes the output by at most :data:`MAX_REL_ERROR` (2% relative L2 per
  token); otherwise float32. The margin keeps a measurement within noise of 1x
  from switching dtypes (and with them feature cache entries) back and forth.

``purpose="training"`` measures what fine-tuning does instead: forward and
backward of the same blocks with float32 weights under ``torch.autocast`` in
bfloat16 against plain float32, at fine-tuning sizes (4 sequences of 64 tokens);
the same rule decides whether ``mixed_precision: auto`` uses bf16 autocast on CPU.

The measurement is cached per machine under ``<store root>/machine/``
(:mod:`sandwich.models.machine`): it runs once (a few seconds) per machine,
torch version, thread count and hidden size. Overrides, strongest first: an
explicit ``dtype`` (``float32``/``bfloat16``) in the feature spec or config;
``SANDWICH_PRECISION=float32|bfloat16`` (what ``auto`` resolves to, without
measuring); ``SANDWICH_REMEASURE=1`` measures again.

The batch size follows the dtype (:func:`batch_size`, for ``batch_size: auto``, the
default): bf16 matmuls on few rows run further below their peak than fp32's, and
short statements in batches of 32 give a few hundred rows per matmul. On an idle
machine 128 items per batch (still capped by the token budget) gained little:
bf16 features on gemma3-270m ran 1.94-2.02x fp32 against 1.88-1.93x at 32;
fp32 keeps its 32 (it ran 1.03-1.04x at 128), so machines that stay on fp32 run
as before: BENCHMARKS.md, "Idle re-measurement at the end of the round". Those
ratios are against float32 on torch's default matmul; where float32's linears are
packed for oneDNN (:mod:`sandwich.models.prepack`) float32 runs faster and the
ratio is lower (docs/models.md, "Packed linears").
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from sandwich.models import machine

log = logging.getLogger(__name__)

Resolved = Literal["float32", "bfloat16"]
Purpose = Literal["features", "training"]

PRECISION_VERSION = 1
MIN_SPEEDUP = 1.2  # bf16 must be at least this much faster than fp32 ...
MAX_REL_ERROR = 0.02  # ... and change the output by at most this (relative L2, per token)
DEFAULT_HIDDEN = 640  # the shape class when the model is not known (gemma3-270m's)
OVERRIDE_ENV = "SANDWICH_PRECISION"
ROUNDS = 5
BUDGET_SECONDS = 1.5  # no new timing round after this (a busy machine measures less)
HOPELESS = 0.5  # a first small Linear slower than this ratio in bf16 ends the measurement

# items per forward pass for ``batch_size: auto``, by compute dtype (module docstring)
BATCH_SIZE: dict[str, int] = {"float32": 32, "bfloat16": 128}

# (sequences, tokens per sequence) measured for each purpose
SHAPES: dict[str, tuple[int, int]] = {"features": (16, 32), "training": (4, 64)}


@dataclass(frozen=True)
class Decision:
    """What ``auto`` resolved to, and the evidence."""

    dtype: Resolved
    purpose: Purpose
    reason: str
    speedup: float | None = None  # fp32 time / bf16 time (> 1: bf16 faster)
    max_rel_error: float | None = None
    min_cosine: float | None = None
    measurement: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(
    measurement: dict[str, Any],
    purpose: Purpose = "features",
    *,
    min_speedup: float = MIN_SPEEDUP,
    tolerance: float = MAX_REL_ERROR,
) -> Decision:
    """The rule, on a measurement (``speedup``, ``max_rel_error``, ``min_cosine``)."""
    speedup, error = machine.numbers(
        measurement, ("speedup", "max_rel_error"), f"precision measurement for {purpose}"
    )
    cosine = measurement.get("min_cosine")
    min_cos = None if cosine is None else float(cosine)

    def decision(dtype: Resolved, reason: str) -> Decision:
        return Decision(dtype, purpose, reason, speedup, error, min_cos, measurement)

    if not math.isfinite(error) or error > tolerance:
        return decision("float32", f"bf16 changes the output by {error:.3g} (> {tolerance:g})")
    if speedup < min_speedup:
        why = f"bf16 runs at {speedup:.2f}x fp32's speed here (< {min_speedup:g}x needed)"
        return decision("float32", why)
    why = f"bf16 is {speedup:.2f}x faster, output within {error:.3g} (<= {tolerance:g})"
    return decision("bfloat16", why)


def override() -> Resolved | None:
    """``$SANDWICH_PRECISION`` (float32/bfloat16), or None when unset or ``auto``."""
    value = os.environ.get(OVERRIDE_ENV, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value not in ("float32", "bfloat16"):
        raise ValueError(f"{OVERRIDE_ENV}={value!r}: use float32, bfloat16 or auto")
    return value  # type: ignore[return-value]


def choose(
    purpose: Purpose = "features",
    *,
    hidden_size: int | None = None,
    device: str = "cpu",
    store_root: Path | str | None = None,
    force: bool = False,
) -> Decision:
    """float32 or bfloat16 for ``purpose`` on this machine (module docstring: the rule).

    Measured once per machine, thread count and ``hidden_size`` (default
    :data:`DEFAULT_HIDDEN`), cached under ``<store_root>/machine/`` (default
    ``$SANDWICH_HOME``); ``force`` measures again.
    """
    if (pinned := override()) is not None:
        return Decision(pinned, purpose, f"{OVERRIDE_ENV}={pinned}")
    if purpose not in SHAPES:
        raise ValueError(f"precision purpose {purpose!r}: use one of {sorted(SHAPES)}")
    hidden = int(hidden_size or DEFAULT_HIDDEN)
    if hidden < 1:
        raise ValueError(f"hidden_size must be positive, got {hidden}")
    if store_root is None:
        from sandwich.store import default_home

        store_root = default_home()
    fp = {**machine.fingerprint(device), "hidden": hidden}

    def measured() -> dict[str, Any]:
        result = measure(purpose, hidden, device)
        log.info("dtype auto for %s at hidden %d: %s", purpose, hidden, decide(result).reason)
        return result

    name = f"precision-{purpose}"
    result = machine.cached_measurement(
        store_root, name, fp, measured, PRECISION_VERSION, force=force
    )
    return decide(result, purpose)


def resolve(
    dtype: str, *, hidden_size: int | None = None, store_root: Path | str | None = None
) -> Resolved:
    """``dtype`` itself unless it is ``auto``; then :func:`choose` for features."""
    if dtype in ("float32", "bfloat16"):
        return dtype  # type: ignore[return-value]
    if dtype != "auto":
        raise ValueError(f"dtype {dtype!r}: use auto, float32 or bfloat16")
    return choose("features", hidden_size=hidden_size, store_root=store_root).dtype


def batch_size(value: int | str, dtype: str) -> int:
    """Items per forward pass: ``value`` itself, or for ``auto`` the resolved compute
    ``dtype``'s :data:`BATCH_SIZE` (bigger in bf16, whose matmuls need more rows)."""
    if value == "auto":
        if dtype not in BATCH_SIZE:
            raise ValueError(
                f"batch_size auto needs a resolved dtype (float32/bfloat16), got {dtype!r}"
            )
        return BATCH_SIZE[dtype]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"batch_size {value!r}: use a positive integer or auto")
    return value


# -- the measurement -------------------------------------------------------------


def _block_class() -> type:
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Block(nn.Module):
        """A Llama-style pre-norm decoder block (the shape class of the models sandwich runs)."""

        def __init__(self, hidden: int) -> None:
            super().__init__()
            self.heads = max(1, hidden // 64)
            self.norm1, self.norm2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
            self.qkv = nn.Linear(hidden, 3 * hidden, bias=False)
            self.out = nn.Linear(hidden, hidden, bias=False)
            self.up = nn.Linear(hidden, 8 * hidden, bias=False)  # gate and up, 4x each
            self.down = nn.Linear(4 * hidden, hidden, bias=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, s, h = x.shape
            q, k, v = self.qkv(self.norm1(x)).view(b, s, 3, self.heads, -1).unbind(2)
            att = F.scaled_dot_product_attention(
                q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True
            )
            x = x + self.out(att.transpose(1, 2).reshape(b, s, h))
            gate, up = self.up(self.norm2(x)).chunk(2, dim=-1)
            return x + self.down(F.silu(gate) * up)

    return Block


def _compare(a: Any, b: Any) -> tuple[float, float]:
    """(largest relative L2 error, smallest cosine) over the rows (tokens) of a vs b."""
    a, b = a.reshape(-1, a.shape[-1]).double(), b.reshape(-1, b.shape[-1]).double()
    rel = (a - b).norm(dim=1) / a.norm(dim=1).clamp_min(1e-12)
    cos = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)
    return float(rel.max()), float(cos.min())


def _quick_ratio(hidden: int, device: str) -> tuple[float, float, float]:
    """(fp32 time / bf16 time, max rel error, min cosine) of one small Linear forward.

    Where bf16 is emulated it is many times slower, and the full measurement in
    bf16 would take minutes: this finds that out in a fraction of a second.
    """
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        lin32 = torch.nn.Linear(hidden, 4 * hidden, bias=False).to(device)
        x32 = torch.randn(64, hidden, device=device)
    lin16, x16 = torch.nn.Linear(hidden, 4 * hidden, bias=False).to(device), x32.bfloat16()
    lin16.load_state_dict(lin32.state_dict())
    lin16 = lin16.bfloat16()
    with torch.inference_mode():
        times = machine.best_times(
            {"fp32": lambda: lin32(x32), "bf16": lambda: lin16(x16)}, 3, BUDGET_SECONDS
        )
        error, cosine = _compare(lin32(x32), lin16(x16).float())
    return times["fp32"] / times["bf16"], error, cosine


def measure(
    purpose: Purpose, hidden: int, device: str = "cpu", rounds: int = ROUNDS
) -> dict[str, Any]:
    """Time fp32 against bf16 for ``purpose`` at ``hidden`` and check the numbers (docstring).

    If one small Linear already runs at under :data:`HOPELESS` of fp32's speed in
    bf16 (no bf16 units), that is the measurement: the rest would take minutes.
    """
    import torch

    started = time.perf_counter()
    quick, quick_error, quick_cosine = _quick_ratio(hidden, device)
    if quick < HOPELESS:
        return _record(
            purpose, hidden, 64, {}, (quick, quick, None), (quick_error, quick_cosine), started
        )
    batch, seq = SHAPES[purpose]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        blocks32 = torch.nn.Sequential(*(_block_class()(hidden) for _ in range(2))).to(device)
        x32 = torch.randn(batch, seq, hidden, device=device)
    blocks32.eval()
    timer = _time_features if purpose == "features" else _time_training
    times, checked = timer(blocks32, x32, device, rounds)
    fp32 = times["linear_fp32"] + times["block_fp32"]
    bf16 = times["linear_bf16"] + times["block_bf16"]
    speedups = (
        fp32 / bf16,
        times["linear_fp32"] / times["linear_bf16"],
        times["block_fp32"] / times["block_bf16"],
    )
    return _record(purpose, hidden, batch * seq, times, speedups, checked, started)


def _record(
    purpose: Purpose,
    hidden: int,
    tokens: int,
    times: dict[str, float],
    speedups: tuple[float, float, float | None],
    checked: tuple[float, float],
    started: float,
) -> dict[str, Any]:
    """One measurement as stored: its timings, speed-ups (all, linear, block) and the check."""
    return {
        "purpose": purpose,
        "hidden": hidden,
        "tokens": tokens,
        "ms": {k: round(v * 1e3, 3) for k, v in times.items()},
        "speedup": speedups[0],
        "speedup_linear": speedups[1],
        "speedup_block": speedups[2],
        "max_rel_error": checked[0],
        "min_cosine": checked[1],
        "stopped_early": not times,
        "seconds": round(time.perf_counter() - started, 3),
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def _time_features(
    blocks32: Any, x32: Any, device: str, rounds: int
) -> tuple[dict[str, float], tuple[float, float]]:
    """Inference: an MLP's matmuls and one block in fp32 and bf16; both blocks checked."""
    import copy

    import torch

    hidden = x32.shape[-1]
    blocks16 = copy.deepcopy(blocks32).to(torch.bfloat16)
    x16 = x32.to(torch.bfloat16)
    tokens32, tokens16 = x32.reshape(-1, hidden), x16.reshape(-1, hidden)
    first32: Any = blocks32[0]  # timed: one block; checked: both
    first16: Any = blocks16[0]

    def mlp(block: Any, t: Any) -> Any:
        return block.down(block.up(t)[:, : 4 * hidden])

    with torch.inference_mode():
        times = machine.best_times(
            {
                "linear_fp32": lambda: mlp(first32, tokens32),
                "linear_bf16": lambda: mlp(first16, tokens16),
                "block_fp32": lambda: first32(x32),
                "block_bf16": lambda: first16(x16),
            },
            rounds,
            BUDGET_SECONDS,
        )
        return times, _compare(blocks32(x32), blocks16(x16).float())


def _time_training(
    blocks32: Any, x32: Any, device: str, rounds: int
) -> tuple[dict[str, float], tuple[float, float]]:
    """Training: forward + backward of an MLP and of one block, plain fp32 against bf16
    autocast; both blocks checked."""
    import torch

    hidden = x32.shape[-1]
    blocks32.train()
    target = torch.zeros_like(x32)
    first: Any = blocks32[0]  # timed: one block; checked: both

    def step(bf16: bool, blocks: Any = first) -> Any:
        blocks.zero_grad(set_to_none=True)
        with torch.autocast(torch.device(device).type, torch.bfloat16, enabled=bf16):
            out = blocks(x32)
        loss = torch.nn.functional.mse_loss(out.float(), target)
        loss.backward()
        return out.detach().float()

    def mlp_step(bf16: bool) -> None:
        t = x32.reshape(-1, hidden).detach().requires_grad_(True)
        with torch.autocast(torch.device(device).type, torch.bfloat16, enabled=bf16):
            y = first.down(first.up(t)[:, : 4 * hidden])
        y.float().sum().backward()

    times = machine.best_times(
        {
            "linear_fp32": lambda: mlp_step(False),
            "linear_bf16": lambda: mlp_step(True),
            "block_fp32": lambda: step(False),
            "block_bf16": lambda: step(True),
        },
        rounds,
        BUDGET_SECONDS,
    )
    return times, _compare(step(False, blocks32), step(True, blocks32))
