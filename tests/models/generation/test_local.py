"""Local generation on a tiny random Llama built in the test (seconds, no downloads)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sandwich.errors import ConfigError
from sandwich.models.generation import (
    CachedGenerator,
    ChoiceRequest,
    GenRequest,
    Message,
    generator_config,
    make_generator,
)
from sandwich.models.generation.local import LocalGenerator

PROMPTS = [
    "the city of paris is in",
    "berlin",
    "rome is a very long sentence with many more words than others",
    "madrid and lyon",
]


@pytest.fixture(scope="module")
def gen(tiny_llama_dir: Path) -> LocalGenerator:
    return LocalGenerator(str(tiny_llama_dir), batch_size=3)


def _req(text: str, **kw: object) -> GenRequest:
    return GenRequest((Message("user", text),), **kw)  # type: ignore[arg-type]


def _mixed() -> list[GenRequest]:
    return [
        _req(PROMPTS[0], max_new_tokens=6, logprobs=True),
        _req(PROMPTS[1], max_new_tokens=3, temperature=1.0, seed=11, logprobs=True),
        _req(PROMPTS[2], max_new_tokens=5, temperature=0.7, top_p=0.8, seed=4),
        _req(PROMPTS[3], max_new_tokens=4),
        _req(PROMPTS[0], max_new_tokens=6, temperature=1.0, seed=12),
    ]


def _view(results: list) -> list:  # type: ignore[type-arg]
    return [(r.text, r.finish_reason, r.token_logprobs) for r in results]


def test_batched_equals_one_at_a_time(gen: LocalGenerator) -> None:
    reqs = _mixed()
    batched = gen.generate(reqs)
    single = [gen.generate([r])[0] for r in reqs]
    assert [r.text for r in batched] == [r.text for r in single]
    for b, s in zip(batched, single, strict=True):
        assert b.finish_reason == s.finish_reason
        if b.token_logprobs is not None:
            assert s.token_logprobs == pytest.approx(b.token_logprobs, abs=1e-4)
    assert all(r.error is None and r.text for r in batched)


def test_seeded_sampling_is_reproducible_and_seed_dependent(gen: LocalGenerator) -> None:
    reqs = [_req(PROMPTS[1], max_new_tokens=8, temperature=1.5, seed=s) for s in (1, 1, 2, 3)]
    texts = [r.text for r in gen.generate(reqs)]
    assert texts[0] == texts[1]
    assert len(set(texts)) >= 2
    greedy = gen.generate([_req(PROMPTS[1], max_new_tokens=8)])[0].text
    assert any(t != greedy for t in texts)


def test_max_new_tokens_and_logprobs_per_row(gen: LocalGenerator) -> None:
    res = gen.generate([_req(PROMPTS[0], max_new_tokens=n, logprobs=True) for n in (1, 4, 7)])
    for n, r in zip((1, 4, 7), res, strict=True):
        assert r.token_logprobs is not None
        assert len(r.token_logprobs) <= n
        if r.finish_reason == "length":
            assert len(r.token_logprobs) == n
        assert all(lp <= 0 for lp in r.token_logprobs)
    # greedy continuations are prefixes of one another
    assert res[2].text.startswith(res[1].text) and res[1].text.startswith(res[0].text)


def test_stop_strings_cut_the_text(gen: LocalGenerator) -> None:
    whole = gen.generate([_req(PROMPTS[3], max_new_tokens=10, logprobs=True)])[0]
    full = whole.text
    words = full.split()
    assert len(words) >= 3
    stop = words[2]
    cut = gen.generate([_req(PROMPTS[3], max_new_tokens=10, stop=(stop,), logprobs=True)])[0]
    assert cut.finish_reason == "stop"
    assert stop not in cut.text and full.startswith(cut.text)
    assert cut.token_logprobs is not None and whole.token_logprobs is not None
    # the log-probs kept are those of the tokens before the stop string
    n = len(cut.token_logprobs)
    assert 2 <= n < len(whole.token_logprobs)
    assert cut.token_logprobs == pytest.approx(whole.token_logprobs[:n], abs=1e-4)


def test_score_choices_is_exact_log_prob(gen: LocalGenerator) -> None:
    greedy = gen.generate([_req(PROMPTS[0], max_new_tokens=4, logprobs=True)])[0]
    assert greedy.token_logprobs is not None and greedy.finish_reason == "length"
    req = ChoiceRequest((Message("user", PROMPTS[0]),), (greedy.text, "italy spain", "."))
    (scores,) = gen.score_choices([req])
    assert scores is not None
    # log P(generated text | prompt) = sum of its tokens' log-probs, computed independently
    assert scores[greedy.text] == pytest.approx(sum(greedy.token_logprobs), abs=1e-4)
    assert all(v < 0 for v in scores.values())
    # batching several requests does not change scores
    other = ChoiceRequest((Message("user", PROMPTS[2]),), ("france", "germany"))
    both = gen.score_choices([other, req])
    assert both[1] == pytest.approx(scores, abs=1e-4)


def test_empty_choice_is_an_error(gen: LocalGenerator) -> None:
    with pytest.raises(ValueError, match="no tokens"):
        gen.score_choices([ChoiceRequest((Message("user", "a"),), ("",))])


def test_prompt_formats(tiny_llama_dir: Path, tmp_path: Path) -> None:
    plain = LocalGenerator(str(tiny_llama_dir))
    msgs = (Message("system", "paris"), Message("user", "berlin"))
    assert plain.prompt_ids(msgs) == plain.prompt_ids((Message("user", "paris\n\nberlin"),))
    with pytest.raises(ConfigError, match="no chat template"):
        LocalGenerator(str(tiny_llama_dir), prompt_format="chat").prompt_ids(msgs)
    templated = tmp_path / "chat"
    shutil.copytree(tiny_llama_dir, templated)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(templated)
    tok.chat_template = (
        "{% for m in messages %}{{ m['role'] }} {{ m['content'] }} . {% endfor %}"
        "{% if add_generation_prompt %}assistant{% endif %}"
    )
    tok.save_pretrained(templated)
    chat = LocalGenerator(str(templated))
    ids = chat.prompt_ids(msgs)
    assert ids != plain.prompt_ids(msgs) and len(ids) > len(plain.prompt_ids(msgs))
    assert chat.generate([GenRequest(msgs, max_new_tokens=2)])[0].error is None


def test_through_make_generator_with_cache(tiny_llama_dir: Path, tmp_path: Path) -> None:
    cfg = generator_config(
        backend="local", model=str(tiny_llama_dir), batch_size=2, cache_path=tmp_path / "c.sqlite"
    )
    gen = make_generator(cfg)
    assert isinstance(gen, CachedGenerator)
    desc = gen.describe()
    assert desc["backend"] == "local" and len(desc["fingerprint"]) == 64
    reqs = [_req(p, max_new_tokens=3) for p in PROMPTS]
    first = gen.generate(reqs)
    again = gen.generate(reqs)
    assert [r.text for r in first] == [r.text for r in again]
    assert all(r.cached for r in again) and not any(r.cached for r in first)
