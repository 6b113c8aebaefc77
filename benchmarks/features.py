"""Feature-extraction throughput: sandwich's ``features()`` vs a naive transformers loop,
and float32 vs bfloat16 vs ``dtype: auto``.

Run:  python benchmarks/features.py [--model gemma3-270m] [--n 1000] [--store DIR]
      (``--only-precision`` skips the naive baselines; ``--remeasure`` re-runs the
      per-machine dtype micro-benchmark instead of reading its cached result;
      ``--breakdown`` adds where bfloat16's time goes: matmul vs the rest, one MLP
      projection per token, elementwise kernels, all in CPU time)

Prints a side-by-side table (items/s, tokens/s, ratio to the naive baseline,
GFLOP/s and fraction of this machine's matmul peak in the same dtype); then the
precision section: the micro-benchmark's decision for this machine and model
(sandwich.models.precision) and the packing decision per dtype
(sandwich.models.prepack), then float32, bfloat16, auto, "bf16 b32" (bfloat16 at
float32's batch size of 32: what ``batch_size: auto`` replaced), "bf16 b256" (twice
auto's bfloat16 batch), "fp32 b128" (float32 at bfloat16's batch size: whether
float32 would gain from it too), "fp32 plain" and "bf16 plain" (the same dtypes
with their linears left unpacked: what packing gains) side by side on the same
``--n-prec`` items (best of ``--repeats`` interleaved runs: items/s, ratio to
float32, cosine and relative error of the features against float32, and whether
a probe trained on float32 features predicts the same on them), the auto /
float32 ratio of every repeat (its median and lowest: how far a best-of can be
trusted), and this machine's bf16 / fp32 matmul peak ratio, through torch.matmul
and through oneDNN-packed weights (float32 runs faster packed on some CPUs, so
bf16's ceiling is its peak over the faster of the two). The 1-minute load average
is printed next to every timing.

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
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch

from sandwich.models import FeatureSpec, load_model, precision, prepack
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
    load: str = ""

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


def packed_peak(dtype: torch.dtype, n: int = 2048, reps: int = 5) -> float:
    """GFLOP/s of an n x n linear on n rows with its weight packed once for oneDNN
    (what sandwich.models.prepack runs), best of ``reps``."""
    mk = torch.ops.mkldnn
    x, w = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    packed = mk._reorder_linear_weight(w, n)
    with torch.inference_mode():
        mk._linear_pointwise(x, packed, None, "none", [], "")
        best = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            mk._linear_pointwise(x, packed, None, "none", [], "")
            best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def linear_params(module: torch.nn.Module) -> int:
    """Weights of the matmuls: ``nn.Linear`` and packed ones (both have in/out_features)."""
    return sum(
        m.in_features * m.out_features
        for m in module.modules()
        if hasattr(m, "in_features") and hasattr(m, "out_features")
    )


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


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


@dataclass
class Closeness:
    cos_mean: float
    cos_min: float
    rel_mean: float
    rel_max: float
    agree: float  # probe trained on the reference: same test predictions on these features
    acc_ref: float
    acc: float  # probe trained and tested on these features


def closeness(ref: np.ndarray, x: np.ndarray, labels: np.ndarray) -> Closeness:
    """How much ``x`` differs from the reference features ``ref``, and what a probe sees."""
    from sklearn.linear_model import LogisticRegression

    a, b = ref.reshape(len(ref), -1), x.reshape(len(x), -1)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    rel = np.linalg.norm(a - b, axis=1) / np.linalg.norm(a, axis=1)
    half = len(a) // 2
    clf = LogisticRegression(max_iter=2000).fit(a[:half], labels[:half])
    own = LogisticRegression(max_iter=2000).fit(b[:half], labels[:half])
    agree = float(np.mean(clf.predict(a[half:]) == clf.predict(b[half:])))
    return Closeness(
        float(cos.mean()), float(cos.min()), float(rel.mean()), float(rel.max()), agree,
        float(clf.score(a[half:], labels[half:])), float(own.score(b[half:], labels[half:])),
    )  # fmt: skip


@contextmanager
def prepack_off() -> Iterator[None]:
    """Modules first loaded in this block keep plain ``nn.Linear`` layers."""
    old = os.environ.get(prepack.OVERRIDE_ENV)
    os.environ[prepack.OVERRIDE_ENV] = "off"
    try:
        yield
    finally:
        if old is None:
            del os.environ[prepack.OVERRIDE_ENV]
        else:
            os.environ[prepack.OVERRIDE_ENV] = old


def precision_section(
    model: HFModel, plain: HFModel, texts: Sequence[str], labels: np.ndarray, layer: int,
    repeats: int, remeasure: bool,
) -> None:  # fmt: skip
    """The per-machine decisions, then float32 / bfloat16 / auto side by side, each also
    with plain (unpacked) linears."""
    root = model.store.root if model.store is not None else None
    t0 = time.perf_counter()
    decision = precision.choose(
        "features", hidden_size=model.hidden_size, store_root=root, force=remeasure
    )
    took = time.perf_counter() - t0
    m = decision.measurement or {}
    print(f"\nprecision (dtype auto) for hidden {model.hidden_size}: {decision.dtype} "
          f"-- {decision.reason}")  # fmt: skip
    if m:
        parts = f"MLP matmuls {m['speedup_linear']:.2f}x"
        if m.get("speedup_block") is not None:
            parts += f", block {m['speedup_block']:.2f}x"
        early = " (stopped early: bf16 is emulated here)" if m.get("stopped_early") else ""
        print(f"  micro-benchmark ({'measured now' if took > 0.2 else 'cached'}, "
              f"{m.get('seconds', 0):.1f} s, load then {m.get('load_avg_1m')}): "
              f"speed-up {m['speedup']:.2f}x ({parts}), ms {m['ms']}, "
              f"max rel error {m['max_rel_error']:.4f}, "
              f"min cosine {m['min_cosine']:.6f}{early}")  # fmt: skip
    dtypes = ("float32", "bfloat16", "auto", "bf16 b32", "bf16 b256", "fp32 b128",
              "fp32 plain", "bf16 plain")  # fmt: skip
    specs = {
        d: FeatureSpec(layers=(layer,), pooling="last", dtype=d)  # type: ignore[arg-type]
        for d in dtypes[:3]
    }  # "bf16 b32": bfloat16 at float32's batch size (32), what batch_size auto replaced
    specs["bf16 b32"] = FeatureSpec(layers=(layer,), pooling="last", dtype="bfloat16",
                                    batch_size=32)  # fmt: skip
    specs["bf16 b256"] = FeatureSpec(layers=(layer,), pooling="last", dtype="bfloat16",
                                     batch_size=256)  # fmt: skip  # still more rows per matmul?
    specs["fp32 b128"] = FeatureSpec(
        layers=(layer,), pooling="last", dtype="float32", batch_size=128
    )  # "fp32 b128": does float32 gain from the bigger batch too?
    # "... plain": the same dtype with its linears left unpacked (sandwich.models.prepack)
    specs["fp32 plain"], specs["bf16 plain"] = specs["float32"], specs["bfloat16"]
    runs = {d: plain if d.endswith("plain") else model for d in dtypes}
    for d in dtypes:  # warm-up (and each dtype's copy of the weights)
        with prepack_off() if d.endswith("plain") else nullcontext():
            runs[d].features(texts[:64], specs[d])
    for d in ("float32", "bfloat16"):
        why = (
            model.packed.get(d)
            or "not packed: "
            + prepack.choose(d, model.hidden_size, root or ArtifactStore().root)[1]
        )
        print(f"  linears for {d}: {why}")
    best = dict.fromkeys(dtypes, float("inf"))
    cpu = dict.fromkeys(dtypes, float("inf"))  # CPU seconds: less sensitive to other load
    loads: dict[str, list[str]] = {d: [] for d in dtypes}
    feats: dict[str, np.ndarray] = {}
    ratios: list[float] = []  # auto / float32 in each repeat: the spread behind the best-of
    for _ in range(repeats):  # interleaved, so a change in load hits every dtype alike
        took: dict[str, float] = {}
        for d in dtypes:
            c0 = time.process_time()
            feats[d], took[d] = timed(partial(runs[d].features, texts, specs[d]))
            cpu[d] = min(cpu[d], time.process_time() - c0)
            best[d] = min(best[d], took[d])
            loads[d].append(load())
        ratios.append(took["float32"] / took["auto"])
    n = len(texts)
    head = (f"| {'dtype':8} | resolved | batch | items/s | x fp32 | items/CPU-s | x fp32 "
            f"| cosine mean / min   "
            f"| rel err mean / max | probe agree | probe acc "
            f"| {'load (1m) per run':20} |")  # fmt: skip
    print(f"\nlayer {layer}, n={n}, best of {repeats}, torch threads {torch.get_num_threads()}")
    print(head)
    print("|" + "|".join("-" * len(c) for c in head.split("|")[1:-1]) + "|")
    for d in dtypes:
        c = closeness(feats["float32"], feats[d], labels[:n])
        spec = model.resolve_spec(specs[d])
        batch = precision.batch_size(spec.batch_size, spec.dtype)
        print(f"| {d:8} | {spec.dtype:8} | {batch:5d} | {n / best[d]:7.1f} "
              f"| {best['float32'] / best[d]:5.2f}x | {n / cpu[d]:11.1f} "
              f"| {cpu['float32'] / cpu[d]:5.2f}x | {c.cos_mean:.6f} / {c.cos_min:.6f} "
              f"| {c.rel_mean:.4f} / {c.rel_max:.4f}   | {c.agree:11.4f} | {c.acc:9.3f} "
              f"| {', '.join(x.removeprefix('load ') for x in loads[d]):20} |")  # fmt: skip
    print(f"auto / float32 in each repeat: {', '.join(f'{r:.2f}' for r in ratios)}; "
          f"median {float(np.median(ratios)):.2f}, lowest {min(ratios):.2f}")  # fmt: skip
    p32, p16 = matmul_peak(torch.float32), matmul_peak(torch.bfloat16)
    k32, k16 = packed_peak(torch.float32), packed_peak(torch.bfloat16)
    print(f"matmul peak (2048^3): torch.matmul float32 {p32:.0f} GFLOP/s, bfloat16 {p16:.0f} "
          f"({p16 / p32:.2f}x); oneDNN packed float32 {k32:.0f}, bfloat16 {k16:.0f} "
          f"({k16 / k32:.2f}x); best bf16 / best fp32 {max(p16, k16) / max(p32, k32):.2f}x, "
          f"the ceiling of bf16's gain on matmuls; {load()}")  # fmt: skip


def cpu_best(fn: Callable[[], Any], reps: int = 5, inner: int = 10) -> float:
    """Best CPU seconds per call of ``fn`` (``reps`` rounds of ``inner`` calls)."""
    fn()
    best = float("inf")
    for _ in range(reps):
        c0 = time.process_time()
        for _ in range(inner):
            fn()
        best = min(best, (time.process_time() - c0) / inner)
    return best


def breakdown(model: HFModel, texts: Sequence[str], layer: int) -> None:
    """Where bfloat16's time goes: matmul vs the rest (torch.profiler, one run per dtype),
    one MLP projection per token, and elementwise kernels, in CPU time."""
    from torch.profiler import ProfilerActivity, profile

    print(f"\nbreakdown (CPU time; {load()}):")
    for d in ("float32", "bfloat16"):
        spec = FeatureSpec(layers=(layer,), pooling="last", dtype=d)
        model.features(texts[:32], spec)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            model.features(texts, spec)
        self_s = {k.key: k.self_cpu_time_total / 1e6 for k in prof.key_averages()}
        total, mm = sum(self_s.values()), self_s.get("aten::mm", 0.0)
        print(f"  {d:8} {len(texts)} items: total {total:.2f} s, aten::mm {mm:.2f} s "
              f"({mm / total:.0%}), rest {total - mm:.2f} s; {load()}")  # fmt: skip
    up = next(m for n, m in model.module("float32").named_modules() if n.endswith("up_proj"))
    shape = (up.out_features, up.in_features)
    for tokens in (320, 1280):
        per = {}
        for d in ("float32", "bfloat16"):
            mods = model.module(d).named_modules()  # type: ignore[arg-type]
            lin = next(m for n, m in mods if n.endswith("up_proj"))
            x = torch.randn(tokens, shape[1], dtype=getattr(torch, d))
            with torch.inference_mode():
                per[d] = cpu_best(partial(lin, x)) / tokens * 1e6
        print(f"  up_proj {shape[1]}->{shape[0]} at {tokens} tokens: float32 "
              f"{per['float32']:.1f}, bfloat16 {per['bfloat16']:.1f} CPU-us/token "
              f"({per['float32'] / per['bfloat16']:.2f}x); {load()}")  # fmt: skip
    fns = {
        "gelu-tanh": lambda t: torch.nn.functional.gelu(t, approximate="tanh"),
        "mul": lambda t: t * t,
        "add": lambda t: t + t,
    }
    for name, fn in fns.items():
        us = {}
        for d in ("float32", "bfloat16"):
            t = torch.randn(320, shape[0], dtype=getattr(torch, d))
            with torch.inference_mode():
                us[d] = cpu_best(partial(fn, t)) * 1e6
        print(f"  {name} on 320 x {shape[0]}: float32 {us['float32']:.0f} us, bfloat16 "
              f"{us['bfloat16']:.0f} us; {load()}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--n-bf16", type=int, default=256, help="items for the bf16 row")
    parser.add_argument("--n-prec", type=int, default=512, help="items per dtype (precision)")
    parser.add_argument("--repeats", type=int, default=2, help="precision: best of this many")
    parser.add_argument(
        "--layer", type=int, default=None, help="truncated layer (default: 2/3 depth)"
    )
    parser.add_argument("--store", default=None, help="artifact store (default $SANDWICH_HOME)")
    parser.add_argument("--only-precision", action="store_true", help="skip the naive rows")
    parser.add_argument("--remeasure", action="store_true", help="re-run the micro-benchmark")
    parser.add_argument("--breakdown", action="store_true", help="also: where bfloat16's time goes")
    args = parser.parse_args()

    model = load_model(args.model, store=ArtifactStore(args.store), progress=False)
    plain = load_model(args.model, store=ArtifactStore(args.store), progress=False)
    assert isinstance(model, HFModel), "benchmark needs a transformers-backed model"
    assert isinstance(plain, HFModel)
    os.environ.pop(prepack.OVERRIDE_ENV, None)  # auto: measured on this machine
    os.environ.pop(precision.OVERRIDE_ENV, None)  # auto means: measured on this machine
    texts, labels = statements(args.n)
    tok = model.tokenizer()
    real = sum(len(x) for x in tok(texts)["input_ids"])
    n_layers = model.num_layers
    mid = args.layer if args.layer is not None else (2 * n_layers) // 3
    print(f"model {args.model}: {n_layers} layers, hidden {model.hidden_size}; {args.n} "
          f"statements, {real} real tokens ({real / args.n:.1f}/item); torch "
          f"{torch.__version__}, threads {torch.get_num_threads()}; {load()}")  # fmt: skip
    if not args.only_precision:
        baselines(model, texts, labels, real, mid, args.n_bf16)
    n = min(args.n_prec, args.n)
    precision_section(model, plain, texts[:n], labels[:n], mid, args.repeats, args.remeasure)
    if args.breakdown:
        breakdown(model, texts[:128], mid)


def baselines(
    model: HFModel, texts: list[str], labels: np.ndarray, real: int, mid: int, n_bf16: int
) -> None:
    """The naive loops against ours (fp32 at full and 2/3 depth, bf16 at 2/3 depth)."""
    from transformers import AutoModel, AutoModelForCausalLM

    tok = model.tokenizer()
    n_layers, n_all = model.num_layers, len(texts)
    backbone = model.module("float32")
    blocks_params = linear_params(backbone)
    per_block = blocks_params / n_layers
    print(f"{sum(p.numel() for p in backbone.parameters()) / 1e6:.0f}M params "
          f"({blocks_params / 1e6:.1f}M in block matmuls)")  # fmt: skip

    # bf16 peak on a smaller n: without bf16 hardware units it is ~100x slower than fp32
    peaks = {"float32": matmul_peak(torch.float32), "bfloat16": matmul_peak(torch.bfloat16, 512)}
    rows: list[Row] = []
    feats: dict[str, np.ndarray] = {}

    causal = AutoModelForCausalLM.from_pretrained(model.directory, dtype=torch.float32).eval()
    lm_head = causal.get_output_embeddings().weight.numel()
    naive(causal, tok, texts[:32], -1)  # warm-up
    (_, padded), s = timed(partial(naive, causal, tok, texts, -1))
    rows.append(Row("naive CausalLM, fp32, bs32", s, n_all, real, padded,
                    2 * (blocks_params + lm_head) * real, "float32", load()))  # fmt: skip
    del causal
    plain = AutoModel.from_pretrained(model.directory, dtype=torch.float32).eval()
    naive(plain, tok, texts[:32], -1)
    (feats["naive"], padded), s = timed(partial(naive, plain, tok, texts, mid))
    rows.append(Row("naive backbone, fp32, bs32", s, n_all, real, padded,
                    2 * blocks_params * real, "float32", load()))  # fmt: skip
    del plain

    runs = [("float32", -1, n_all), ("float32", mid, n_all), ("bfloat16", mid, n_bf16)]
    for dtype, layer, n in runs:  # bf16 on a subset: it is slow on CPUs without bf16 units
        spec = FeatureSpec(layers=(layer,), pooling="last", dtype=dtype)  # type: ignore[arg-type]
        model.features(texts[:64], spec)  # warm-up (and the bf16 copy of the weights)
        x, s = timed(partial(model.features, texts[:n], spec))
        depth = n_layers if layer == -1 else layer
        feats[f"{dtype}:{layer}"] = x
        sub_real = sum(len(t) for t in tok(texts[:n])["input_ids"])
        rows.append(Row(f"ours, {dtype}, layer {layer} of {n_layers}, n={n}", s, n, sub_real,
                        sub_real, 2 * per_block * depth * sub_real, dtype, load()))  # fmt: skip

    base = rows[0].items_s()
    print(f"\nmatmul peak: fp32 (2048^3) {peaks['float32']:.1f} GFLOP/s, "
          f"bf16 (512^3) {peaks['bfloat16']:.1f} GFLOP/s; {load()}\n")  # fmt: skip
    head = (f"| {'method':46} | items/s | tokens/s | x naive | pad waste | GFLOP/s | % peak "
            f"| {'load':9} |")  # fmt: skip
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for r in rows:
        gf = r.flops / r.seconds / 1e9
        waste = 1 - r.real_tokens / r.padded_tokens
        print(f"| {r.name:46} | {r.items_s():7.0f} | {r.tokens_s():8.0f} "
              f"| {r.items_s() / base:6.1f}x | {waste:9.0%} | {gf:7.1f} "
              f"| {gf / peaks[r.dtype]:6.0%} | {r.load.removeprefix('load '):9} |")  # fmt: skip

    same = np.abs(feats["naive"] - feats[f"float32:{mid}"][:, 0]).max()
    print(f"\nmax |naive - ours| at layer {mid} (fp32): {same:.2e}")


if __name__ == "__main__":
    main()
