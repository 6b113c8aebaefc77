"""Hidden-state extraction for transformers backbones: bucketed, truncated, pooled.

What "layer k" means (the same as ``output_hidden_states=True`` in transformers):
layer 0 is the input of the first block (the embedding output, after any
embedding scaling or embedding LayerNorm); layer k (1 <= k < num_layers) is the
raw output of block k, with no final norm; layer ``num_layers`` is the model's
``last_hidden_state`` (for decoders with a final norm, *after* that norm, exactly
like transformers' ``hidden_states[-1]``).

How it is fast on CPU:

- texts are tokenized once, sorted by token count and cut into batches of at most
  ``batch_size`` items and ``token_budget`` padded tokens, so short statements are
  not padded to the length of long ones;
- padding is on the right with the tokenizer's pad token (eos if it has none;
  never a hard-coded 0), so causal models see every real token at its true
  position and no query row is fully masked;
- the forward pass stops after the deepest block that is needed: forward hooks
  on the block list capture the requested outputs, and the deepest one raises
  ``_StopForward``. Nothing in the model is modified (hooks are removed in a
  ``finally``), so the truncation is non-destructive;
- ``torch.inference_mode()`` throughout; the language-model head is never run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from sandwich.models.base import Pooling

DEFAULT_TOKEN_BUDGET = 4096


class _StopForward(Exception):
    """Raised by a hook once the deepest needed block has run."""


def find_blocks(module: nn.Module, num_layers: int) -> nn.ModuleList:
    """The model's list of transformer blocks.

    ``layers`` for Llama/Gemma3 backbones, ``encoder.layer`` for BERT.

    Otherwise found generically: the first ``nn.ModuleList`` of length ``num_layers``.
    """
    for name in ("layers", "encoder.layer", "h", "model.layers", "transformer.h"):
        try:
            found = module.get_submodule(name)
        except AttributeError:
            continue
        if isinstance(found, nn.ModuleList) and len(found) == num_layers:
            return found
    for sub in module.modules():
        if isinstance(sub, nn.ModuleList) and len(sub) == num_layers:
            return sub
    raise ValueError(
        f"cannot find the list of {num_layers} transformer blocks in {type(module).__name__}; "
        "feature extraction supports models whose blocks are an nn.ModuleList"
    )


def pad_token_id(tokenizer: Any) -> int:
    """The tokenizer's pad id, else its eos id; raise if it has neither."""
    for attr in ("pad_token_id", "eos_token_id"):
        value = getattr(tokenizer, attr, None)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            return int(value)
    raise ValueError(
        f"tokenizer {type(tokenizer).__name__} has neither a pad nor an eos token; "
        "set tokenizer.pad_token before extracting features"
    )


def length_batches(
    lengths: Sequence[int], batch_size: int, token_budget: int = DEFAULT_TOKEN_BUDGET
) -> list[np.ndarray]:
    """Indices grouped into batches of similar length (shortest first).

    Each batch holds at most ``batch_size`` items and at most ``token_budget``
    padded tokens (but always at least one item).
    """
    order = np.argsort(np.asarray(lengths), kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and end - start < batch_size:
            longest = lengths[int(order[end])]  # sorted: the new item is the longest
            if (end - start + 1) * longest > token_budget:
                break
            end += 1
        batches.append(order[start:end])
        start = end
    return batches


def pad_batch(
    ids: Sequence[Sequence[int]], pad_id: int, side: str = "right"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad token id lists into (input_ids, attention_mask) tensors."""
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, seq in enumerate(ids):
        n = len(seq)
        sl = slice(0, n) if side == "right" else slice(width - n, width)
        input_ids[row, sl] = torch.tensor(seq, dtype=torch.long)
        mask[row, sl] = 1
    return input_ids, mask


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: Pooling) -> torch.Tensor:
    """Pool (batch, seq, hidden) to (batch, hidden) over real tokens only.

    "last": the last position whose mask is 1 (correct for left or right padding);
    "mean": the average over positions whose mask is 1.
    """
    if pooling == "last":
        positions = torch.arange(mask.shape[1], device=mask.device)
        last = (positions * (mask > 0)).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0]), last]
    if pooling == "mean":
        m = mask.to(hidden.dtype).unsqueeze(-1)
        return (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
    raise ValueError(f"unknown pooling {pooling!r}; use 'last' or 'mean'")


def forward_layers(
    module: nn.Module,
    blocks: nn.ModuleList,
    input_ids: torch.Tensor,
    mask: torch.Tensor,
    layers: Sequence[int],
) -> dict[int, torch.Tensor]:
    """Hidden states (batch, seq, hidden) of the requested layers, stopping early.

    ``layers`` are resolved indices in 0..len(blocks). Blocks past the deepest
    requested layer are not run.
    """
    num_layers = len(blocks)
    wanted = sorted(set(layers))
    deepest = wanted[-1]
    captured: dict[int, torch.Tensor] = {}
    handles = []

    def capture_input(_mod: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        captured[0] = args[0] if args else kwargs["hidden_states"]
        if deepest == 0:
            raise _StopForward

    def make_hook(k: int) -> Callable[[nn.Module, Any, Any], None]:
        def hook(_mod: nn.Module, _args: Any, output: Any) -> None:
            captured[k] = output[0] if isinstance(output, tuple) else output  # (hidden, ...)
            if k == deepest:
                raise _StopForward

        return hook

    try:
        if 0 in wanted:
            handles.append(blocks[0].register_forward_pre_hook(capture_input, with_kwargs=True))
        for k in wanted:
            if 0 < k < num_layers:
                handles.append(blocks[k - 1].register_forward_hook(make_hook(k)))
        try:
            out = module(input_ids=input_ids, attention_mask=mask, use_cache=False)
            captured[num_layers] = out.last_hidden_state
        except _StopForward:
            pass
    finally:
        for h in handles:
            h.remove()
    return {k: captured[k] for k in wanted}


def extract_features(
    module: nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    layers: Sequence[int],
    *,
    pooling: Pooling,
    num_layers: int,
    batch_size: int = 32,
    max_length: int = 128,
    token_budget: int = DEFAULT_TOKEN_BUDGET,
    progress: bool = True,
    desc: str = "features",
) -> np.ndarray:
    """Pooled hidden states, float32 array (len(texts), len(layers), hidden), input order.

    ``module`` is a backbone (no LM head) already in the compute dtype and eval mode.
    """
    from tqdm.auto import tqdm

    hidden_size = int(getattr(module, "config").hidden_size)  # noqa: B009
    out = np.zeros((len(texts), len(layers), hidden_size), dtype=np.float32)
    if not texts:
        return out
    blocks = find_blocks(module, num_layers)
    enc = tokenizer(list(texts), add_special_tokens=True, truncation=True, max_length=max_length)
    ids: list[list[int]] = enc["input_ids"]
    pad_id = pad_token_id(tokenizer)
    with (
        torch.inference_mode(),
        tqdm(total=len(texts), desc=desc, unit="item", disable=not progress) as bar,
    ):
        for batch in length_batches([len(x) for x in ids], batch_size, token_budget):
            input_ids, mask = pad_batch([ids[int(i)] for i in batch], pad_id)
            states = forward_layers(module, blocks, input_ids, mask, layers)
            for j, k in enumerate(layers):
                out[batch, j] = pool(states[k], mask, pooling).float().numpy()
            bar.update(len(batch))
    return out
