"""Would ``torch.compile`` of the decoder blocks pay for feature extraction? (float32, bfloat16)

Run (one command):

    python benchmarks/bf16_compile.py            # gemma3-270m, layer 12, 256 statements

Eager features first (the reference), then every decoder block of each dtype's module
compiled (``Module.compile(dynamic=True)``: inductor, dynamic shapes so the varying
batch and sequence sizes do not recompile) and: the first call (compiling) in seconds,
the largest relative L2 error of compiled against eager features, and the steady state
(best of 3 interleaved runs, CPU time) of compiled features in both dtypes. Compare the
steady state with the eager rows of ``benchmarks/features.py --only-precision``. The
inductor cache goes where ``TORCHINDUCTOR_CACHE_DIR`` says (torch's default otherwise):
run twice to see a warm cache. The load average is printed with each number.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from sandwich.models import FeatureSpec, load_model
from sandwich.models.extract import find_blocks
from sandwich.models.hf import HFModel

sys.path.insert(0, str(Path(__file__).parent))
from features import statements

DTYPES = ("float32", "bfloat16")


def best_cpu(model: HFModel, texts: list[str], spec: dict[str, FeatureSpec]) -> dict[str, float]:
    """Best of 3 interleaved runs: CPU seconds of the features of ``texts`` per dtype."""
    best = dict.fromkeys(DTYPES, float("inf"))
    for _ in range(3):
        for d in DTYPES:
            c0 = time.process_time()
            model.features(texts, spec[d])
            best[d] = min(best[d], time.process_time() - c0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--layer", type=int, default=12)
    args = parser.parse_args()
    model = load_model(args.model, progress=False)
    assert isinstance(model, HFModel)
    texts, _ = statements(args.n)
    spec = {d: FeatureSpec(layers=(args.layer,), dtype=d) for d in DTYPES}  # type: ignore[arg-type]
    eager = {d: model.features(texts, spec[d]) for d in DTYPES}
    best = best_cpu(model, texts, spec)
    ratio, load = best["float32"] / best["bfloat16"], os.getloadavg()[0]
    print(f"eager    CPU ms {best['float32'] * 1e3:.0f} / {best['bfloat16'] * 1e3:.0f} "
          f"(fp32 / bf16), ratio {ratio:.2f}; load {load:.2f}")  # fmt: skip
    for d in DTYPES:
        for block in find_blocks(model.module(d), model.num_layers):
            block.compile(dynamic=True)
    for d in DTYPES:
        t0 = time.perf_counter()
        got = model.features(texts[:64], spec[d])
        first = time.perf_counter() - t0
        a, b = eager[d][:64].reshape(64, -1), got.reshape(64, -1)
        err = float((np.linalg.norm(a - b, axis=1) / np.linalg.norm(a, axis=1)).max())
        print(f"{d:9} first call (compiles) {first:.1f} s; compiled vs eager max rel error "
              f"{err:.2g}; load {os.getloadavg()[0]:.2f}")  # fmt: skip
    best = best_cpu(model, texts, spec)
    print(f"compiled CPU ms {best['float32'] * 1e3:.0f} / {best['bfloat16'] * 1e3:.0f} "
          f"(fp32 / bf16), ratio {best['float32'] / best['bfloat16']:.2f}; "
          f"load {os.getloadavg()[0]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
