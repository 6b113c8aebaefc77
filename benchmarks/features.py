"""Feature-extraction throughput: sandwich's ``features()`` vs a naive transformers loop.

Run:  python benchmarks/features.py [--model gemma3-270m] [--n 1000] [--store DIR]

Prints a side-by-side table (items/s, tokens/s, ratio to the naive baseline,
GFLOP/s and fraction of this machine's matmul peak in the same dtype), then
how much bfloat16 changes the features compared with float32.

- naive: ``AutoModelForCausalLM`` (what a user would load), float32, batches of
  32 in the original order padded to the batch maximum, ``output_hidden_states=True``,
  the requested layer taken from ``hidden_states``; "naive backbone" is the same
  loop on ``AutoModel`` (no LM head) to show where the gain comes from.
- ours: ``model.features(texts, spec)`` (length bucketing, forward stopped at the
  deepest requested layer, no LM head).

FLOP count: 2 x (parameters of the matmuls actually run) x (real, non-pad tokens):
the blocks run (all their Linear weights) plus, for the naive CausalLM, the LM
head (hidden x vocab). Attention score FLOPs (~4 x seq x hidden per token per
layer) are ignored: for 8-15 token statements they are < 2% of the total.
Padded tokens count as wasted work, not as throughput.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch

from sandwich.models import FeatureSpec, load_model
from sandwich.models.hf import HFModel
from sandwich.store import ArtifactStore

FACTS = {
    "Paris": "France", "Lyon": "France", "Marseille": "France", "Berlin": "Germany",
    "Munich": "Germany", "Hamburg": "Germany", "Rome": "Italy", "Milan": "Italy",
    "Naples": "Italy", "Madrid": "Spain", "Barcelona": "Spain", "Seville": "Spain",
    "Lisbon": "Portugal", "Porto": "Portugal", "London": "the United Kingdom",
    "Manchester": "the United Kingdom", "Dublin": "Ireland", "Amsterdam": "the Netherlands",
    "Rotterdam": "the Netherlands", "Brussels": "Belgium", "Vienna": "Austria",
    "Zurich": "Switzerland", "Geneva": "Switzerland", "Warsaw": "Poland", "Krakow": "Poland",
    "Prague": "the Czech Republic", "Budapest": "Hungary", "Athens": "Greece",
    "Stockholm": "Sweden", "Oslo": "Norway", "Helsinki": "Finland", "Copenhagen": "Denmark",
    "Moscow": "Russia", "Kyiv": "Ukraine", "Istanbul": "Turkey", "Cairo": "Egypt",
    "Lagos": "Nigeria", "Nairobi": "Kenya", "Johannesburg": "South Africa",
    "Casablanca": "Morocco", "Tokyo": "Japan", "Osaka": "Japan", "Beijing": "China",
    "Shanghai": "China", "Seoul": "South Korea", "Mumbai": "India", "Delhi": "India",
    "Bangkok": "Thailand", "Jakarta": "Indonesia", "Manila": "the Philippines",
    "Sydney": "Australia", "Melbourne": "Australia", "Auckland": "New Zealand",
    "Toronto": "Canada", "Vancouver": "Canada", "Chicago": "the United States",
    "Houston": "the United States", "Mexico City": "Mexico", "Lima": "Peru",
    "Bogota": "Colombia", "Santiago": "Chile", "Buenos Aires": "Argentina",
    "Sao Paulo": "Brazil", "Rio de Janeiro": "Brazil", "Caracas": "Venezuela",
}  # fmt: skip


def statements(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Balanced "The city of X is in Y." statements with their truth."""
    rng = random.Random(seed)
    countries = sorted(set(FACTS.values()))
    cities = sorted(FACTS)
    texts, labels = [], []
    for i in range(n):
        city = rng.choice(cities)
        true = i % 2 == 0
        country = FACTS[city] if true else rng.choice([c for c in countries if c != FACTS[city]])
        texts.append(f"The city of {city} is in {country}.")
        labels.append(true)
    return texts, np.array(labels)


@dataclass
class Row:
    name: str
    seconds: float
    items: int
    real_tokens: int
    padded_tokens: int
    flops: float
    dtype: str

    def items_s(self) -> float:
        return self.items / self.seconds

    def tokens_s(self) -> float:
        return self.real_tokens / self.seconds


def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 5) -> float:
    """GFLOP/s of torch.matmul on n x n matrices (best of ``reps``)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def linear_params(module: torch.nn.Module) -> int:
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, torch.nn.Linear))


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def naive(
    module: Any, tokenizer: Any, texts: Sequence[str], layer: int, batch_size: int = 32
) -> tuple[np.ndarray, int]:
    """The baseline loop; returns pooled last-token features and padded token count."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    out, padded = [], 0
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            enc = tokenizer(
                list(texts[start : start + batch_size]), padding=True, return_tensors="pt"
            )
            padded += enc["input_ids"].numel()
            hs = module(**enc, output_hidden_states=True).hidden_states[layer]
            last = enc["attention_mask"].sum(1) - 1
            out.append(hs[torch.arange(hs.shape[0]), last].float().numpy())
    return np.concatenate(out), padded


def bf16_report(x32: np.ndarray, x16: np.ndarray, labels: np.ndarray) -> list[str]:
    from sklearn.linear_model import LogisticRegression

    a, b = x32.reshape(len(x32), -1), x16.reshape(len(x16), -1)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    rel = np.linalg.norm(a - b, axis=1) / np.linalg.norm(a, axis=1)
    half = len(a) // 2
    clf = LogisticRegression(max_iter=2000).fit(a[:half], labels[:half])
    clf16 = LogisticRegression(max_iter=2000).fit(b[:half], labels[:half])
    agree = np.mean(clf.predict(a[half:]) == clf.predict(b[half:]))
    return [
        f"cosine(fp32, bf16) per item: mean {cos.mean():.5f}, min {cos.min():.5f}",
        f"relative L2 error: mean {rel.mean():.4f}, max {rel.max():.4f}; "
        f"max abs diff {np.abs(a - b).max():.3g} (max |fp32| {np.abs(a).max():.3g})",
        f"probe trained on fp32, predictions on fp32 vs bf16 test features agree: {agree:.4f}",
        f"probe test accuracy: fp32-trained {clf.score(a[half:], labels[half:]):.3f}, "
        f"bf16-trained {clf16.score(b[half:], labels[half:]):.3f} (n_train={half})",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--n-bf16", type=int, default=256, help="items for the bf16 run")
    parser.add_argument(
        "--layer", type=int, default=None, help="truncated layer (default: 2/3 depth)"
    )
    parser.add_argument("--store", default=None, help="artifact store (default $SANDWICH_HOME)")
    args = parser.parse_args()

    from transformers import AutoModel, AutoModelForCausalLM

    model = load_model(args.model, store=ArtifactStore(args.store), progress=False)
    assert isinstance(model, HFModel), "benchmark needs a transformers-backed model"
    texts, labels = statements(args.n)
    tok = model.tokenizer()
    real = sum(len(x) for x in tok(texts)["input_ids"])
    n_layers = model.num_layers
    mid = args.layer if args.layer is not None else (2 * n_layers) // 3
    backbone = model.module("float32")
    blocks_params = linear_params(backbone)
    per_block = blocks_params / n_layers
    print(f"model {args.model}: {n_layers} layers, hidden {model.hidden_size}, "
          f"{sum(p.numel() for p in backbone.parameters()) / 1e6:.0f}M params "
          f"({blocks_params / 1e6:.1f}M in block matmuls); {args.n} statements, "
          f"{real} real tokens ({real / args.n:.1f}/item); "
          f"torch threads {torch.get_num_threads()}")  # fmt: skip

    # bf16 with a smaller n: without bf16 hardware units it is ~100x slower than fp32
    peaks = {"float32": matmul_peak(torch.float32), "bfloat16": matmul_peak(torch.bfloat16, 512)}
    rows: list[Row] = []
    feats: dict[str, np.ndarray] = {}

    causal = AutoModelForCausalLM.from_pretrained(model.directory, dtype=torch.float32).eval()
    lm_head = causal.get_output_embeddings().weight.numel()
    naive(causal, tok, texts[:32], -1)  # warm-up
    (_, padded), s = timed(partial(naive, causal, tok, texts, -1))
    rows.append(Row("naive CausalLM, fp32, bs32", s, args.n, real, padded,
                    2 * (blocks_params + lm_head) * real, "float32"))  # fmt: skip
    del causal
    plain = AutoModel.from_pretrained(model.directory, dtype=torch.float32).eval()
    naive(plain, tok, texts[:32], -1)
    (feats["naive"], padded), s = timed(partial(naive, plain, tok, texts, mid))
    rows.append(Row("naive backbone, fp32, bs32", s, args.n, real, padded,
                    2 * blocks_params * real, "float32"))  # fmt: skip
    del plain

    runs = [("float32", -1, args.n), ("float32", mid, args.n), ("bfloat16", mid, args.n_bf16)]
    for dtype, layer, n in runs:  # bf16 on a subset: it is slow on CPUs without bf16 units
        spec = FeatureSpec(layers=(layer,), pooling="last", dtype=dtype)  # type: ignore[arg-type]
        model.features(texts[:64], spec)  # warm-up (and the bf16 copy of the weights)
        x, s = timed(partial(model.features, texts[:n], spec))
        depth = n_layers if layer == -1 else layer
        feats[f"{dtype}:{layer}"] = x
        sub_real = sum(len(t) for t in tok(texts[:n])["input_ids"])
        rows.append(Row(f"ours, {dtype}, layer {layer} of {n_layers}, n={n}", s, n, sub_real,
                        sub_real, 2 * per_block * depth * sub_real, dtype))  # fmt: skip

    base = rows[0].items_s()
    print(f"\nmatmul peak: fp32 (2048^3) {peaks['float32']:.1f} GFLOP/s, "
          f"bf16 (512^3) {peaks['bfloat16']:.1f} GFLOP/s\n")  # fmt: skip
    head = f"| {'method':46} | items/s | tokens/s | x naive | pad waste | GFLOP/s | % peak |"
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for r in rows:
        gf = r.flops / r.seconds / 1e9
        waste = 1 - r.real_tokens / r.padded_tokens
        print(f"| {r.name:46} | {r.items_s():7.0f} | {r.tokens_s():8.0f} "
              f"| {r.items_s() / base:6.1f}x | {waste:9.0%} | {gf:7.1f} "
              f"| {gf / peaks[r.dtype]:6.0%} |")  # fmt: skip

    same = np.abs(feats["naive"] - feats[f"float32:{mid}"][:, 0]).max()
    print(f"\nmax |naive - ours| at layer {mid} (fp32): {same:.2e}")
    print(f"bfloat16 vs float32 at layer {mid}:")
    k = len(feats[f"bfloat16:{mid}"])
    x32, x16 = feats[f"float32:{mid}"][:k], feats[f"bfloat16:{mid}"]
    for line in bf16_report(x32, x16, labels[:k]):
        print("  " + line)


if __name__ == "__main__":
    main()
