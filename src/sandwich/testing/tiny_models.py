"""Tiny random-weight transformers models (hidden 32, 2 layers) with a word-level
tokenizer, saved to a local directory: what tests and benchmarks load through the same
code path as a downloaded model, with no hub access.

The tokenizer knows only ``words`` (plus ``<unk>``, ``<s>``, ``</s>``, ``<pad>``; the pad
id is 3, so nothing may assume pad id 0); it splits on whitespace and joins decoded words
with spaces. Weights are drawn from ``torch.manual_seed(seed)``: the same words and seed
give the same model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

SPECIALS = ("<unk>", "<s>", "</s>", "<pad>")


def tiny_tokenizer(words: Sequence[str], bos: bool) -> Any:
    """A fast word-level tokenizer of ``words``; ``bos``: prepend ``<s>`` (a decoder's)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate([*SPECIALS, *words])}
    if len(vocab) != len(SPECIALS) + len(words):
        raise ValueError(f"tiny tokenizer: repeated or reserved words in {list(words)}")
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    if bos:
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", special_tokens=[("<s>", 1)]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
        pad_token="<pad>",
    )  # fmt: skip


def build_tiny_llama(
    directory: Path, words: Sequence[str], seed: int = 0, hidden: int = 32
) -> Path:
    """A random 2-layer Llama (a decoder) with its tokenizer, saved in ``directory``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tiny_tokenizer(words, bos=True)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
        max_position_embeddings=64, pad_token_id=3, bos_token_id=1, eos_token_id=2,
    )  # fmt: skip
    LlamaForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def build_tiny_bert(directory: Path, words: Sequence[str], seed: int = 0) -> Path:
    """A random 2-layer BERT (an encoder) with its tokenizer, saved in ``directory``."""
    import torch
    from transformers import BertConfig, BertModel

    tokenizer = tiny_tokenizer(words, bos=False)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=64, pad_token_id=3,
    )  # fmt: skip
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
