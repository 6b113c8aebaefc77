"""Tiny transformers models built offline in the test (no hub access)."""

from __future__ import annotations

from pathlib import Path

import pytest

WORDS = [
    "the",
    "city",
    "of",
    "is",
    "in",
    "a",
    "an",
    "and",
    "paris",
    "france",
    "lyon",
    "germany",
    "berlin",
    "rome",
    "italy",
    "madrid",
    "spain",
    "very",
    "long",
    "sentence",
    "with",
    "many",
    "more",
    "words",
    "to",
    "make",
    "it",
    "longer",
    "than",
    "others",
]
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]  # pad id 3: never assume pad id 0


def _tokenizer(bos: bool):  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIALS + WORDS + ["."])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation()]
    )
    if bos:
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", special_tokens=[("<s>", 1)]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
    ), len(vocab)


def build_tiny_llama(directory: Path, seed: int = 0) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer, vocab_size = _tokenizer(bos=True)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        pad_token_id=3,
        bos_token_id=1,
        eos_token_id=2,
    )
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def build_tiny_bert(directory: Path, seed: int = 0) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    tokenizer, vocab_size = _tokenizer(bos=False)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=64,
        pad_token_id=3,
    )
    BertModel(config).eval().save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))
