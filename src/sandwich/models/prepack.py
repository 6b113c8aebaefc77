"""Linear layers with their weights packed once for oneDNN, where that is faster.

A frozen backbone's ``nn.Linear`` runs through torch's default CPU matmul
(a BLAS ``sgemm`` in float32; oneDNN in bfloat16, which reorders the weight
into its blocked layout on every call). oneDNN can instead reorder each weight
once (``torch.ops.mkldnn._reorder_linear_weight``, the same op torch's own
inductor compiler packs CPU weights with) and run every later call on the
packed weight (``torch.ops.mkldnn._linear_pointwise``). How much that gains
depends on the CPU and its BLAS: on the 2-core AMD EPYC (Zen 4) this was
written on, float32 features ran 1.17-1.18x faster packed in three runs of
``python benchmarks/features.py --only-precision --n 512 --n-prec 512 --repeats 6``
(the float32 row against "fp32 plain"), while bfloat16's matmuls gained only
1.05-1.08x (``python benchmarks/linear_kernels.py``); a CPU whose BLAS already
runs at its peak may gain nothing. So ``auto`` measures,
once per machine, dtype and model width (:func:`choose`), and packs only when
the packed matmuls are at least :data:`MIN_SPEEDUP` faster with the same output
(relative error at most :data:`MAX_REL_ERROR`). The margin keeps a measurement
within noise from switching kernels, and with them the last bits of float32
features, between processes.

Packing is for inference only: a packed weight is an opaque oneDNN tensor (no
autograd, no ``.to()``, no state dict). It is applied to the feature-extraction
modules of :class:`sandwich.models.hf.HFModel`, never to a training backbone.

Overrides, strongest first: ``SANDWICH_PREPACK=on|off`` (``auto``, the default,
measures); ``SANDWICH_REMEASURE=1`` (or ``prepack-features``) measures again.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
import time
from pathlib import Path
from typing import Any

from sandwich.models import machine
from sandwich.models.base import DType

log = logging.getLogger(__name__)

PREPACK_VERSION = 1
OVERRIDE_ENV = "SANDWICH_PREPACK"
MIN_SPEEDUP = 1.05  # packed must be at least this much faster than the default matmul ...
MAX_REL_ERROR = 1e-4  # ... and give the same output to this relative L2 error
ROWS = 512  # tokens per matmul measured (16 statements of 32 tokens)
ROUNDS = 7
BUDGET_SECONDS = 1.0  # no new round after this


def override() -> bool | None:
    """``$SANDWICH_PREPACK`` as on (True) / off (False), or None for ``auto`` / unset."""
    value = os.environ.get(OVERRIDE_ENV, "").strip().lower()
    if value in ("", "auto"):
        return None
    if value in ("on", "1", "true", "yes"):
        return True
    if value in ("off", "0", "false", "no"):
        return False
    raise ValueError(f"{OVERRIDE_ENV}={value!r}: use on, off or auto")


def decide(measurement: dict[str, Any]) -> tuple[bool, str]:
    """(pack?, why) on a measurement with ``speedup`` and ``rel_error`` (None: unavailable)."""
    if measurement.get("error"):
        return False, f"packed linears unavailable here: {measurement['error']}"
    speedup, error = machine.numbers(measurement, ("speedup", "rel_error"), "prepack measurement")
    if not error <= MAX_REL_ERROR:  # also NaN
        return False, f"packed linears change the output by {error:.3g} (> {MAX_REL_ERROR:g})"
    if speedup < MIN_SPEEDUP:
        return False, f"packed linears run at {speedup:.2f}x here (< {MIN_SPEEDUP:g}x needed)"
    return True, f"packed linears run {speedup:.2f}x faster, output within {error:.2g}"


def choose(dtype: DType, hidden: int, store_root: Path | str) -> tuple[bool, str]:
    """Whether feature extraction in ``dtype`` at width ``hidden`` packs its linears here:
    the override, else the cached measurement (:func:`measure`) and :func:`decide`."""
    if (pinned := override()) is not None:
        return pinned, f"{OVERRIDE_ENV}={'on' if pinned else 'off'}"
    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"prepack: dtype {dtype!r} must be float32 or bfloat16")
    fp = {**machine.fingerprint("cpu"), "hidden": int(hidden), "dtype": dtype}
    result = machine.cached_measurement(
        store_root, "prepack-features", fp, lambda: measure(dtype, int(hidden)), PREPACK_VERSION
    )
    pack, why = decide(result)
    log.info("linear kernel for %s features at hidden %d: %s", dtype, hidden, why)
    return pack, why


@functools.cache  # one class (isinstance works); defined on first use: torch loads lazily
def packed_linear_class() -> type:
    """:class:`torch.nn.Module` running one frozen ``nn.Linear`` on its packed weight."""
    import torch

    class PackedLinear(torch.nn.Module):
        """``linear``'s weight reordered once for oneDNN (inference only: no autograd)."""

        def __init__(self, linear: torch.nn.Linear, rows: int = ROWS) -> None:
            super().__init__()
            self.in_features, self.out_features = linear.in_features, linear.out_features
            weight = linear.weight.detach()
            self.packed = torch.ops.mkldnn._reorder_linear_weight(weight, rows)
            self.bias = None if linear.bias is None else linear.bias.detach().clone()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")

        def extra_repr(self) -> str:
            return f"in_features={self.in_features}, out_features={self.out_features}, packed"

    return PackedLinear


def pack(module: Any, rows: int = ROWS) -> int:
    """Replace every ``nn.Linear`` in ``module`` (in place, eval only) by a packed one;
    returns how many. ``rows`` is oneDNN's hint of the tokens per call."""
    import torch

    if module.training:
        raise ValueError("prepack.pack: the module is in training mode; packing is for inference")
    cls = packed_linear_class()
    count = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is torch.nn.Linear:
                setattr(parent, name, cls(child, rows))
                count += 1
    return count


def measure(dtype: DType, hidden: int, rounds: int = ROUNDS) -> dict[str, Any]:
    """Time an MLP's two matmuls (``hidden`` -> 4 x ``hidden`` -> ``hidden``, :data:`ROWS`
    tokens) in ``dtype`` with the default kernel and packed, interleaved, best of up to
    ``rounds`` (no new round after :data:`BUDGET_SECONDS`), and compare their outputs."""
    import torch

    started = time.perf_counter()
    dt = getattr(torch, dtype)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        mlp = torch.nn.Sequential(
            torch.nn.Linear(hidden, 4 * hidden, bias=False),
            torch.nn.Linear(4 * hidden, hidden, bias=False),
        ).to(dt)
        x = torch.randn(ROWS, hidden).to(dt)
    mlp.eval()
    packed = copy.deepcopy(mlp)
    try:
        pack(packed)
        with torch.inference_mode():
            packed(x)
    except (RuntimeError, AttributeError, NotImplementedError) as exc:  # no oneDNN build
        return {"error": f"{type(exc).__name__}: {exc}"[:300], "dtype": dtype, "hidden": hidden}
    with torch.inference_mode():
        ref, out = mlp(x).double(), packed(x).double()
        error = float((out - ref).norm() / ref.norm().clamp_min(1e-30))
        best = machine.best_times(
            {"default": lambda: mlp(x), "packed": lambda: packed(x)}, rounds, BUDGET_SECONDS
        )
    return {
        "dtype": dtype,
        "hidden": hidden,
        "rows": ROWS,
        "ms": {k: round(v * 1e3, 3) for k, v in best.items()},
        "speedup": best["default"] / best["packed"],
        "rel_error": error,
        "seconds": round(time.perf_counter() - started, 3),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
