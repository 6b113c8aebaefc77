"""Sampling completions through the Generator interface (fake backend), cached and scored."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandwich.models.generation import FakeGenerator, GenRequest, make_generator
from sandwich.models.generation.base import GenResult
from sandwich.models.generation.config import generator_config
from sandwich.rewards.data import (
    SamplingError,
    cut_completion,
    load_reward_task,
    sample_completions,
)
from sandwich.rewards.data.geo import GeoGold


@pytest.mark.parametrize(
    ("raw", "cut"),
    [
        (" China. It is big.", " China."),
        (" China\nThe city of", " China"),
        (" the U.S.A and more", " the U.S.A and more"),
        (" the U.S. It is", " the U.S."),
        (" 3.5 million people! Yes", " 3.5 million people!"),
        (" Japan?", " Japan?"),
        ("", ""),
    ],
)
def test_cut_completion(raw: str, cut: str) -> None:
    assert cut_completion(raw) == cut


def _cached(tmp_path: Path, **fake: object):  # type: ignore[no-untyped-def]
    cfg = generator_config(backend="fake", cache_path=tmp_path / "gen.sqlite", **fake)
    return make_generator(cfg)


def test_samples_are_scored_seeded_and_served_from_the_cache(tmp_path: Path) -> None:
    prompts, gold = load_reward_task("geo-prefs", 6, 0)
    gen = _cached(tmp_path, rules={"Shanghai": " China. Big.", "Beijing": " Japan"})
    ps = sample_completions(gen, prompts, n=3, seed=7, max_new_tokens=8, gold=gold)
    assert len(ps) == 6 and all(len(p.completions) == 3 for p in ps.prompts)
    assert [p.id for p in ps.prompts] == [p.id for p in prompts]
    for p in ps.prompts:
        for c in p.completions:
            assert c.gold == GeoGold()(p, c.text)
        if p.metadata["city"] == "Shanghai":
            assert [c.text for c in p.completions] == [" China."] * 3
            assert p.golds().tolist() == [1.0, 1.0, 1.0]
        if p.metadata["city"] == "Beijing":
            assert p.golds().tolist() == [0.5, 0.5, 0.5]  # Japan: right continent
    texts = {c.text for p in ps.prompts for c in p.completions}
    assert len(texts) > 6  # distinct seeds give distinct fake replies
    assert ps.source["gold"] == "geo-country" and ps.source["n"] == 3
    inner = gen.inner
    assert isinstance(inner, FakeGenerator) and len(inner.calls) == 18
    again = sample_completions(gen, prompts, n=3, seed=7, max_new_tokens=8, gold=gold)
    assert len(inner.calls) == 18 and again.fingerprint() == ps.fingerprint()
    more = sample_completions(gen, prompts, n=5, seed=7, max_new_tokens=8, gold=gold)
    assert len(inner.calls) == 18 + 6 * 2  # the first three samples per prompt are reused
    assert [p.completions[:3] for p in more.prompts] == [p.completions for p in ps.prompts]
    other = sample_completions(gen, prompts, n=3, seed=8, max_new_tokens=8, gold=gold)
    assert other.fingerprint() != ps.fingerprint()


def test_requests_carry_one_seed_per_prompt_and_sample(tmp_path: Path) -> None:
    prompts, _ = load_reward_task("arith-prefs", 4, 0)
    gen = FakeGenerator()
    ps = sample_completions(gen, prompts, n=2, seed=0, max_new_tokens=5, temperature=0.7)
    reqs = [r for r in gen.calls if isinstance(r, GenRequest)]
    assert len({r.seed for r in reqs}) == 8
    assert all(r.temperature == 0.7 and r.max_new_tokens == 5 and r.stop == ("\n",) for r in reqs)
    assert [r.messages[0].content for r in reqs[:2]] == [prompts[0].prompt] * 2
    assert all(c.gold is None for p in ps.prompts for c in p.completions)  # no gold given


def test_failures_are_reported_and_successes_cached(tmp_path: Path) -> None:
    prompts, gold = load_reward_task("geo-prefs", 4, 0)
    bad = prompts[1].metadata["city"]
    gen = _cached(tmp_path, fail_on=[bad])
    with pytest.raises(SamplingError, match=rf"(?s)2 of 8 completions failed.*{bad}.*sample 0"):
        sample_completions(gen, prompts, n=2, seed=0, gold=gold, batch_prompts=2)
    keys = [gen.key(r) for r in gen.inner.calls]  # type: ignore[attr-defined]
    assert len(gen.cache.get_many(keys)) == 6  # type: ignore[attr-defined]
    gen.inner.fail_on = ()  # type: ignore[attr-defined]
    ps = sample_completions(gen, prompts, n=2, seed=0, gold=gold, batch_prompts=2)
    assert len(gen.inner.calls) == 8 + 2  # type: ignore[attr-defined]  # only the failures rerun
    assert all(len(p.completions) == 2 for p in ps.prompts)


class _Counting(FakeGenerator):
    def generate(self, requests):  # type: ignore[no-untyped-def]
        self.batches = getattr(self, "batches", 0) + 1
        return super().generate(requests)


def test_batches_of_prompts() -> None:
    prompts, _ = load_reward_task("arith-prefs", 10, 0)
    gen = _Counting()
    sample_completions(gen, prompts, n=2, seed=0, batch_prompts=4)
    assert gen.batches == 3


def test_bad_arguments() -> None:
    prompts, _ = load_reward_task("arith-prefs", 2, 0)
    with pytest.raises(ValueError, match="n"):
        sample_completions(FakeGenerator(), prompts, n=0, seed=0)
    with pytest.raises(ValueError, match="no prompts"):
        sample_completions(FakeGenerator(), [], n=1, seed=0)
    assert GenResult("x").error is None
