"""Three GRPO steps on the embedded smollm2-135m (chat template, LoRA, CPU) with a toy proxy."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence

import pytest

from sandwich.rewards.rl import RLParams, run_policy_rl
from sandwich.store import ArtifactStore

pytestmark = pytest.mark.integration

PROMPTS = [
    "The city of Chengdu is in",
    "The city of Lyon is in",
    "The city of Porto is in",
    "The city of Munich is in",
]


def names_a_country(prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
    """A toy proxy: 1 when the completion names one of a few countries."""
    countries = ("china", "france", "portugal", "germany")
    return [float(any(c in text.lower() for c in countries)) for text in completions]


def length_gold(prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
    """A toy gold: shorter answers are better (only recorded)."""
    return [-len(text.split()) / 10 for text in completions]


def test_three_grpo_steps_on_smollm2(shared_store: ArtifactStore) -> None:
    cfg = RLParams(steps=3, batch_size=2, num_generations=2, max_new_tokens=8, lr=1e-4)
    started = time.perf_counter()
    steps = run_policy_rl(
        "smollm2-135m", PROMPTS, names_a_country, length_gold, cfg, None, store=shared_store
    )
    seconds = time.perf_counter() - started
    print(
        f"3 GRPO steps on smollm2-135m: {seconds:.1f} s (with conversion and loading), "
        f"steps end at {[round(s.seconds, 1) for s in steps]} s, load {os.getloadavg()}"
    )
    assert [s.step for s in steps] == [1, 2, 3]
    assert steps[0].kl == 0.0
    assert all(math.isfinite(s.kl) and s.kl >= 0 for s in steps)
    assert all(0.0 <= s.proxy <= 1.0 and s.gold <= 0.0 for s in steps)
    assert all(s.n_samples == 4 and 0 < s.completion_length <= 8 for s in steps)
