"""A tiny random Llama (hidden 32, 2 layers) saved locally; preference pairs with a planted rule."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sandwich.testing.tiny_models import build_tiny_llama

PROMPT = ["the", "answer", "to", "question", "is"]
FILLER = ["red", "blue", "green", "big", "small", "old", "new", "dark", "light", "warm", "cold"]
WORDS = [*PROMPT, *FILLER, "good", "bad", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8"]


def build_llama(directory: Path, seed: int = 0, hidden: int = 32) -> Path:
    return build_tiny_llama(directory, WORDS, seed, hidden)


@pytest.fixture(scope="session")
def llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_llama(tmp_path_factory.mktemp("rm-llama"))


def _completion(rng: np.random.Generator, good: bool) -> str:
    words = list(rng.choice(FILLER, size=int(rng.integers(2, 5))))
    words.insert(int(rng.integers(len(words) + 1)), "good" if good else "bad")
    return " ".join(words)


def planted_pairs(n: int, seed: int = 0) -> tuple[list[str], list[str], np.ndarray]:
    """Pairs of completions of one prompt: one contains "good", the other "bad", in a random
    position and order; ``pref`` = 1.0 when a is the "good" one (the planted rule), else 0.0."""
    rng = np.random.default_rng(seed)
    texts_a, texts_b, pref = [], [], []
    for _ in range(n):
        prompt = f"the answer to question {WORDS[-8 + int(rng.integers(8))]} is"
        a_good = bool(rng.integers(2))
        texts_a.append(f"{prompt} {_completion(rng, a_good)}")
        texts_b.append(f"{prompt} {_completion(rng, not a_good)}")
        pref.append(1.0 if a_good else 0.0)
    return texts_a, texts_b, np.array(pref)


def pairwise_accuracy(prob_a: np.ndarray, pref: np.ndarray) -> float:
    """Share of pairs where the model prefers the side ``pref`` prefers."""
    return float(np.mean((prob_a > 0.5) == (pref > 0.5)))


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One torch thread: tiny models stall less on two shared cores."""
    from sandwich.elicit.finetune.elicitor import torch_threads

    with torch_threads(1):
        yield
