"""Local generation on the real embedded models: SmolLM2 (chat template) and Gemma 3 (plain)."""

from __future__ import annotations

import pytest

from sandwich.models.generation import ChoiceRequest, GenRequest, Message
from sandwich.models.generation.local import LocalGenerator
from sandwich.store import ArtifactStore

pytestmark = pytest.mark.integration


def test_smollm2_answers_and_scores(shared_store: ArtifactStore) -> None:
    gen = LocalGenerator("smollm2-135m", store=shared_store, batch_size=4)
    q = (Message("user", "What is the capital of France? Answer in one word."),)
    greedy, sampled_a, sampled_b = gen.generate(
        [
            GenRequest(q, max_new_tokens=8, logprobs=True),
            GenRequest(q, max_new_tokens=8, temperature=1.0, seed=3),
            GenRequest(q, max_new_tokens=8, temperature=1.0, seed=3),
        ]
    )
    assert "paris" in greedy.text.lower()
    assert greedy.token_logprobs and all(lp <= 0 for lp in greedy.token_logprobs)
    assert sampled_a.text == sampled_b.text
    (scores,) = gen.score_choices([ChoiceRequest(q, ("Paris", "Berlin"))])
    assert scores is not None and scores["Paris"] > scores["Berlin"]


def test_gemma_base_model_continues_plain_text(shared_store: ArtifactStore) -> None:
    gen = LocalGenerator("gemma3-270m", store=shared_store)
    msgs = (Message("user", "The capital of France is"),)
    assert gen.describe()["prompt_format"] == "auto"
    (res,) = gen.generate([GenRequest(msgs, max_new_tokens=6)])
    assert res.error is None and res.text.strip()
    (scores,) = gen.score_choices([ChoiceRequest(msgs, (" Paris", " Berlin"))])
    assert scores is not None and scores[" Paris"] > scores[" Berlin"]
    assert gen._fmt == "plain"
