"""Tiny random transformers models (hidden 32, 2 layers) saved locally, and a separable task."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from sandwich.testing.tiny_models import build_tiny_bert, build_tiny_llama

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
    "nice",
    "milan",
    "porto",
    "munich",
    "turin",
    "france",
    "germany",
    "italy",
    "spain",
    "a",
    "very",
    "old",
    "big",
    "small",
    "new",
    "dark",
    "town",
]


def build_llama(directory: Path, seed: int = 0, hidden: int = 32) -> Path:
    return build_tiny_llama(directory, WORDS, seed, hidden)


def build_bert(directory: Path, seed: int = 0) -> Path:
    return build_tiny_bert(directory, WORDS, seed)


@pytest.fixture(scope="session")
def llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_llama(tmp_path_factory.mktemp("ft-llama"))


@pytest.fixture(scope="session")
def bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bert(tmp_path_factory.mktemp("ft-bert"))


def separable_task(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """ "<city> is in <country>": true iff the country is france or italy (the last word)."""
    rng = np.random.default_rng(seed)
    cities = WORDS[5:15]
    adjs = WORDS[20:26]
    texts, labels = [], []
    for _ in range(n):
        country = ["france", "italy", "germany", "spain"][rng.integers(4)]
        adj = f"{adjs[rng.integers(6)]} {adjs[rng.integers(6)]}"
        texts.append(f"the {adj} city of {cities[rng.integers(10)]} is in {country}")
        labels.append(country in ("france", "italy"))
    return texts, np.array(labels, dtype=np.float64)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One torch thread: tiny models stall less on two shared cores (see ``torch_threads``)."""
    from sandwich.elicit.finetune.elicitor import torch_threads

    with torch_threads(1):
        yield
