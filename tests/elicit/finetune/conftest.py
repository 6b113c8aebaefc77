"""Tiny random transformers models (hidden 32, 2 layers) saved locally, and a separable task."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

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
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]  # pad id 3: never assume pad id 0


def _tokenizer(bos: bool):  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIALS + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if bos:
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", special_tokens=[("<s>", 1)]
        )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
        pad_token="<pad>",
    )  # fmt: skip
    return fast, len(vocab)


def build_llama(directory: Path, seed: int = 0, hidden: int = 32) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer, vocab_size = _tokenizer(bos=True)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
        max_position_embeddings=64, pad_token_id=3, bos_token_id=1, eos_token_id=2,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def build_bert(directory: Path, seed: int = 0) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    tokenizer, vocab_size = _tokenizer(bos=False)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=64, pad_token_id=3,
    )  # fmt: skip
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


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
