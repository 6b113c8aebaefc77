"""A tiny random-weight Llama (hidden 32, 2 layers, a 20-word vocabulary) saved locally,
and toy rewards on its words."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]  # pad id 3: never assume pad id 0


def build_tiny_llama(directory: Path, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIALS + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
        pad_token="<pad>",
    )  # fmt: skip
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
        pad_token_id=3, bos_token_id=1, eos_token_id=2,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(directory)
    fast.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-policy"))


def count_word(word: str):  # type: ignore[no-untyped-def]
    """A toy reward: how often ``word`` appears in the completion."""

    def reward(prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        return [float(c.split().count(word)) for c in completions]

    return reward


PROMPTS = ["the city of", "a very old town", "berlin is in", "the big city is"]
