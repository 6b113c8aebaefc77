"""Sampling geo-prefs completions from the real embedded SmolLM2, scored and cached."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandwich.models.generation import CachedGenerator, generator_config, make_generator
from sandwich.rewards.data import load_reward_task, sample_completions
from sandwich.store import ArtifactStore

pytestmark = pytest.mark.integration


def test_smollm2_geo_completions_are_scored_and_cached(
    shared_store: ArtifactStore, tmp_path: Path
) -> None:
    prompts, gold = load_reward_task("geo-prefs", 4, 0, params={"shots": True})
    cfg = generator_config(
        backend="local",
        model="smollm2-135m",
        prompt_format="plain",
        cache_path=tmp_path / "gen.sqlite",
    )
    gen = make_generator(cfg, store=shared_store)
    assert isinstance(gen, CachedGenerator)
    ps = sample_completions(gen, prompts, n=4, seed=0, max_new_tokens=6, gold=gold)
    golds = [c.gold for p in ps.prompts for c in p.completions]
    assert len(golds) == 16 and set(golds) <= {0.0, 0.5, 1.0}
    assert all("\n" not in c.text for p in ps.prompts for c in p.completions)
    assert gen.misses == 16 and gen.hits == 0
    again = sample_completions(gen, prompts, n=4, seed=0, max_new_tokens=6, gold=gold)
    assert gen.misses == 16 and gen.hits == 16  # every request served by the response cache
    assert again.fingerprint() == ps.fingerprint()
