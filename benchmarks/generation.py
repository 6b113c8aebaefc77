"""Generation: local batched vs one-at-a-time, cache hit vs miss, HTTP concurrency scaling.

Usage: .venv/bin/python benchmarks/generation.py [--model smollm2-135m] [--n 16]
       [--tokens 32] [--skip-local] [--skip-http] [--threads T]

1. Local (transformers generate, greedy): the same N chat prompts one at a time
   (batch_size 1) and batched (batch_size 8 and N); generated tokens per second
   and the ratio to one-at-a-time.
2. Response cache: per-request latency of a miss (the local model generates)
   and a hit (read from SQLite), same requests, one run; plus the cache's own
   overhead on a miss (fake backend, no model).
3. HTTP: the same N requests to llama-cpp-python's OpenAI-compatible server on
   127.0.0.1 (the SmolLM2 GGUF) at concurrency 1, 2, 4, 8; requests/s and the
   ratio to concurrency 1.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sandwich.models.generation import (
    CachedGenerator,
    FakeGenerator,
    GenRequest,
    Message,
    ResponseCache,
)
from sandwich.models.generation.local import LocalGenerator
from sandwich.store import ArtifactStore

TOPICS = [
    "the sea", "mountains", "a library", "bread", "rivers", "the moon", "trains", "winter",
    "gardens", "clocks", "bridges", "the desert", "music", "forests", "cities", "rain",
]  # fmt: skip


def prompts(n: int, tokens: int, salt: str = "") -> list[GenRequest]:
    return [
        GenRequest(
            (Message("user", f"Write a short paragraph about {TOPICS[i % len(TOPICS)]}.{salt}"),),
            max_new_tokens=tokens,
        )
        for i in range(n)
    ]


def n_tokens(gen: LocalGenerator, results: list) -> int:  # type: ignore[type-arg]
    tok = gen._load()[1]
    return sum(len(tok(r.text, add_special_tokens=False)["input_ids"]) for r in results)


def bench_local(model: str, n: int, tokens: int, store: ArtifactStore) -> LocalGenerator:
    print(f"\n== local generation: {model}, {n} prompts, {tokens} new tokens, greedy ==")
    gen = LocalGenerator(model, store=store)
    reqs = prompts(n, tokens)
    gen.generate(reqs[:2])  # load weights and warm up
    print(f"{'mode':<22}{'seconds':>9}{'tokens':>8}{'tokens/s':>10}{'vs 1-at-a-time':>16}")
    base = None
    texts = None
    for bs in (1, 8, n):
        gen.batch_size = bs
        t = time.perf_counter()
        out = gen.generate(reqs)
        dt = time.perf_counter() - t
        k = n_tokens(gen, out)
        rate = k / dt
        base = base or rate
        same = (
            ""
            if texts is None
            else ("  same text" if [r.text for r in out] == texts else "  TEXT DIFFERS")
        )
        texts = texts or [r.text for r in out]
        label = "one at a time" if bs == 1 else f"batched (batch {bs})"
        print(f"{label:<22}{dt:>9.2f}{k:>8}{rate:>10.1f}{rate / base:>15.2f}x{same}")
    gen.batch_size = 8
    return gen


def bench_cache(gen: LocalGenerator | None, n: int, tokens: int) -> None:
    print("\n== response cache: miss vs hit, per request ==")
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        if gen is not None:
            cached = CachedGenerator(gen, ResponseCache(Path(tmp) / "local.sqlite"))
            reqs = prompts(n, tokens, salt=" (cache)")
            t = time.perf_counter()
            cached.generate(reqs)
            miss = (time.perf_counter() - t) / n
            t = time.perf_counter()
            hits = cached.generate(reqs)
            hit = (time.perf_counter() - t) / n
            assert all(r.cached for r in hits)
            rows.append((f"local {gen.name}", miss, hit))
        fake = CachedGenerator(FakeGenerator(), ResponseCache(Path(tmp) / "fake.sqlite"))
        reqs = prompts(1000, tokens, salt=" (fake)")
        reqs = [
            GenRequest(r.messages, max_new_tokens=r.max_new_tokens, seed=i)
            for i, r in enumerate(reqs)
        ]
        t = time.perf_counter()
        fake.generate(reqs)
        miss_f = (time.perf_counter() - t) / len(reqs)
        t = time.perf_counter()
        fake.generate(reqs)
        hit_f = (time.perf_counter() - t) / len(reqs)
        rows.append(("fake (cache overhead)", miss_f, hit_f))
    print(f"{'backend':<26}{'miss ms':>10}{'hit ms':>10}{'miss/hit':>10}")
    for name, miss, hit in rows:
        print(f"{name:<26}{miss * 1e3:>10.3f}{hit * 1e3:>10.3f}{miss / hit:>10.1f}")


def bench_http(n: int, tokens: int) -> None:
    from sandwich.models.embedded import smollm2_gguf
    from sandwich.models.generation.llama_server import llama_server
    from sandwich.models.generation.openai_http import OpenAIGenerator

    print(f"\n== HTTP backend vs llama-cpp-python server (SmolLM2 GGUF), {n} requests ==")
    with llama_server(smollm2_gguf(), model_alias="smollm2") as url:
        reqs = prompts(n, tokens, salt=" (http)")
        OpenAIGenerator("smollm2", url).generate(reqs[:1])  # warm up
        print(f"{'concurrency':<14}{'seconds':>9}{'req/s':>8}{'vs 1':>8}")
        base = None
        for c in (1, 2, 4, 8):
            gen = OpenAIGenerator("smollm2", url, concurrency=c, timeout=300)
            t = time.perf_counter()
            out = gen.generate(reqs)
            dt = time.perf_counter() - t
            assert all(r.error is None for r in out), [r.error for r in out if r.error]
            rate = n / dt
            base = base or rate
            print(f"{c:<14}{dt:>9.2f}{rate:>8.2f}{rate / base:>7.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--skip-local", action="store_true")
    ap.add_argument("--skip-http", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    gen = None
    if not args.skip_local:
        gen = bench_local(args.model, args.n, args.tokens, ArtifactStore())
    bench_cache(gen, args.n, args.tokens)
    if not args.skip_http:
        bench_http(args.n, args.tokens)


if __name__ == "__main__":
    main()
