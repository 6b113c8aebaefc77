"""A tiny random-weight Llama (hidden 32, 2 layers, a 20-word vocabulary) saved locally,
and toy rewards on its words."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from sandwich.testing import tiny_models

WORDS = [
    "the",
    "city",
    "of",
    "is",
    "in",
    "paris",
    "lyon",
    "berlin",
    "rome",
    "madrid",
    "france",
    "germany",
    "italy",
    "spain",
    "a",
    "very",
    "old",
    "big",
    "small",
    "town",
]


def build_tiny_llama(directory: Path, seed: int = 0) -> Path:
    return tiny_models.build_tiny_llama(directory, WORDS, seed)


@pytest.fixture(scope="session")
def tiny_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-policy"))


def count_word(word: str):  # type: ignore[no-untyped-def]
    """A toy reward: how often ``word`` appears in the completion."""

    def reward(prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        return [float(c.split().count(word)) for c in completions]

    return reward


PROMPTS = ["the city of", "a very old town", "berlin is in", "the big city is"]
