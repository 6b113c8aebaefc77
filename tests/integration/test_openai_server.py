"""The HTTP backend against a real OpenAI-compatible server on 127.0.0.1.

llama-cpp-python's server (installed by ``make test`` through the ``server``
extra) serves the embedded SmolLM2-135M-Instruct GGUF; nothing leaves loopback.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sandwich.elicit import ELICITORS
from sandwich.elicit.reporters.icm import ICMReporter
from sandwich.models.embedded import smollm2_gguf
from sandwich.models.generation import (
    ChoiceRequest,
    GenRequest,
    Message,
    ResponseCache,
    generator_config,
    make_generator,
)
from sandwich.models.generation.llama_server import llama_server
from sandwich.models.generation.openai_http import OpenAIGenerator
from sandwich.tasks import TASKS

pytestmark = pytest.mark.integration

MODEL = "smollm2-135m-gguf"


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with llama_server(smollm2_gguf(), model_alias=MODEL, n_ctx=2048) as url:
        yield url


def _q(text: str, **kw: object) -> GenRequest:
    return GenRequest((Message("user", text),), **kw)  # type: ignore[arg-type]


def test_generate_logprobs_and_cache(server_url: str, tmp_path: Path) -> None:
    cfg = generator_config(
        backend="openai", model=MODEL, base_url=server_url, cache_path=tmp_path / "c.sqlite"
    )
    gen = make_generator(cfg)
    req = _q("What is the capital of France? Answer in one word.", max_new_tokens=8, logprobs=True)
    first = gen.generate([req])[0]
    assert first.error is None, first.error
    assert "paris" in first.text.lower()
    assert first.token_logprobs and all(lp <= 0 for lp in first.token_logprobs)
    again = gen.generate([req])[0]
    assert again.cached and again.text == first.text
    assert len(ResponseCache(tmp_path / "c.sqlite")) == 1


def test_concurrent_requests_keep_their_order_and_parameters(server_url: str) -> None:
    gen = OpenAIGenerator(MODEL, server_url, concurrency=4)
    prompt = "Write a long story about the sea."
    reqs = [_q(prompt, max_new_tokens=n, logprobs=True) for n in (1, 2, 3, 4)]
    reqs.append(_q(prompt, max_new_tokens=8, temperature=1.0, seed=1))
    out = gen.generate(reqs)
    assert all(r.error is None and r.text for r in out), [r.error for r in out]
    for n, r in zip((1, 2, 3, 4), out, strict=False):
        assert r.finish_reason == "length"
        assert r.token_logprobs is not None and len(r.token_logprobs) == n
    # (greedy decoding is not bit-reproducible across requests on this server:
    # its prompt cache changes the numerics; the response cache gives replay)


def test_score_choices_reads_top_logprobs(server_url: str) -> None:
    gen = OpenAIGenerator(MODEL, server_url)
    msgs = (Message("user", "Is the sky green? Reply with Yes or No only."),)
    (first,) = gen.generate([GenRequest(msgs, max_new_tokens=1, logprobs=True)])
    assert first.error is None and first.token_logprobs is not None
    word = first.text.strip()
    other = "No" if word == "Yes" else "Yes"
    (scores,) = gen.score_choices([ChoiceRequest(msgs, (word, other))])
    assert scores is not None, "the server returned no log-probs"
    assert all(math.isfinite(v) and v <= 0 for v in scores.values())
    # the greedy token is the most likely choice, and its score includes its own log-prob
    assert scores[word] >= scores[other]
    assert scores[word] >= first.token_logprobs[0] - 1e-6


def test_the_completions_endpoint_scores_a_base_model_prompt(server_url: str) -> None:
    """``endpoint: completions`` (a base model's raw prompt, as vLLM serves one for ICM):
    the server's legacy log-probs give the same scores as the local backend's plain prompt
    would rank, and in-context ICM runs through it."""
    gen = make_generator(generator_config(backend="openai", model=MODEL, base_url=server_url,
                                          endpoint="completions", concurrency=2))  # fmt: skip
    res = gen.generate([GenRequest((Message("user", "The capital of France is"),),
                                   max_new_tokens=4, logprobs=True)])[0]  # fmt: skip
    assert res.error is None and res.text and res.token_logprobs is not None
    assert all(lp <= 0.0 for lp in res.token_logprobs)
    task = TASKS.build("cities", n_items=10)
    texts, gold = task.texts(), task.labels()
    rep = ELICITORS.build("icm", predictor="in-context", max_items=6, iterations=6, initial=4,
                          max_demos=6)  # fmt: skip
    assert isinstance(rep, ICMReporter)
    rep.fit_texts(texts[:6], gold[:6], gen, random_state=0)
    assert int(np.sum(rep.claim_labels_ >= 0)) >= 4 and np.isfinite(rep.energy_)
    p = rep.predict_texts(texts[6:])
    assert p.shape == (4,) and np.all((p > 0) & (p < 1))


def test_a_protocol_end_to_end_over_http(server_url: str, tmp_path: Path) -> None:
    from sandwich.protocols import read_transcripts
    from sandwich.runs import parse_config, run

    spec = {"backend": "openai", "base_url": server_url, "model": MODEL, "concurrency": 2}
    cfg = parse_config(
        {
            "name": "http",
            "task": {"name": "dossier", "n_items": 20, "seed": 0},
            "max_items": 6,
            "judge": spec,
            "assistant": spec,
            "generation": {"max_new_tokens": 16},
            "protocols": [{"name": "debate", "params": {"rounds": 1}}],
            "bootstrap": {"n_boot": 100},
        }
    )
    out = run(cfg, runs_root=tmp_path, progress=False)
    rows = {r.protocol: r for r in out.results.protocol_rows()}
    assert set(rows) == {"debate", "assistant-alone"}
    debate = read_transcripts(out.run_dir / rows["debate"].transcripts)
    assert len(debate) == 6
    for rec in debate:
        assert rec.models["judge"]["backend"] == "openai"
        assert rec.models["judge"]["base_url"] == server_url
        assert all(t.text.strip() for t in rec.turns)  # the debaters really spoke
    assert rows["debate"].accuracy is not None
