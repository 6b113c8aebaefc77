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
- ``torch.inference_mode()`` throughout; the language-model head is never run;
- text pairs that share a start (contrast pairs: a statement + " True"/" False") on a
  causal model run the shared tokens once and each half's own tokens from the
  key/value cache (:func:`extract_pair_features`), the same features as a full pass.
"""

from __future__ import annotations

import inspect
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
    *,
    cache: Any = None,
    position_ids: torch.Tensor | None = None,
) -> dict[int, torch.Tensor]:
    """Hidden states (batch, seq, hidden) of the requested layers, stopping early.

    ``layers`` are resolved indices in 0..len(blocks). Blocks past the deepest
    requested layer are not run. With a ``cache`` (a transformers ``Cache``) the
    pass reads and extends it (``mask`` then covers the cached tokens too), and
    ``position_ids`` place the new tokens; the blocks that ran fill their layers of it.
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
            if cache is None:
                out = module(input_ids=input_ids, attention_mask=mask, use_cache=False)
            else:
                out = module(input_ids=input_ids, attention_mask=mask, position_ids=position_ids,
                             past_key_values=cache, use_cache=True)  # fmt: skip
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
    ids = _token_ids(tokenizer, texts, max_length)
    pad_id = pad_token_id(tokenizer)
    with (
        torch.inference_mode(),
        tqdm(total=len(texts), desc=desc, unit="item", disable=not progress) as bar,
    ):
        _pooled_into(out, module, blocks, ids, layers, pooling, pad_id, batch_size, token_budget,
                     bar.update)  # fmt: skip
    return out


def _token_ids(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    enc = tokenizer(list(texts), add_special_tokens=True, truncation=True, max_length=max_length)
    return [list(x) for x in enc["input_ids"]]


def _pooled_into(
    out: np.ndarray,
    module: nn.Module,
    blocks: nn.ModuleList,
    ids: Sequence[Sequence[int]],
    layers: Sequence[int],
    pooling: Pooling,
    pad_id: int,
    batch_size: int,
    token_budget: int,
    done: Callable[[int], object],
) -> None:
    """Fill ``out[i]`` with the pooled features of ``ids[i]``: length-bucketed full passes."""
    for batch in length_batches([len(x) for x in ids], batch_size, token_budget):
        input_ids, mask = pad_batch([ids[int(i)] for i in batch], pad_id)
        states = forward_layers(module, blocks, input_ids, mask, layers)
        for j, k in enumerate(layers):
            out[batch, j] = pool(states[k], mask, pooling).float().numpy()
        done(len(batch))


def shared_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens the two halves of a pair share, leaving each at least one
    token of its own (a half's last-token features are read from its own suffix pass).
    Token ids, not characters: robust to how the tokenizer merges the boundary."""
    limit = min(len(a), len(b)) - 1
    n = 0
    while n < limit and a[n] == b[n]:
        n += 1
    return max(n, 0)


def supports_shared_prefix(module: nn.Module, layers: Sequence[int], max_length: int) -> bool:
    """Whether :func:`extract_pair_features` may run a pair's shared prefix once: the module
    takes a key/value cache and explicit positions, some requested layer is past the
    embeddings (layer 0 alone needs no attention, so nothing to share), and no sliding
    window could cut into a prefix plus its suffix (both at most ``max_length`` tokens)."""
    params = inspect.signature(module.forward).parameters
    if "past_key_values" not in params or "position_ids" not in params:
        return False
    config: Any = getattr(module, "config", None)
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    window = getattr(text, "sliding_window", None)
    return max(layers) > 0 and (not window or 2 * max_length < int(window))


def _shared_prefix_batch(
    module: nn.Module,
    blocks: nn.ModuleList,
    pos: Sequence[Sequence[int]],
    neg: Sequence[Sequence[int]],
    prefix: Sequence[int],
    layers: Sequence[int],
    pooling: Pooling,
    pad_id: int,
) -> torch.Tensor:
    """Pooled features (2B, layers, hidden) of B pairs, pos and neg interleaved.

    The B prefixes run once (right-padded, with a key/value cache); the cache is repeated
    for the two halves and only each half's suffix runs, at positions ``prefix + j`` (the
    mask hides the prefixes' padding). Mean pooling adds the prefix's hidden states
    (counted once per half) to the suffix's, in float32."""
    from transformers import DynamicCache

    config = getattr(module, "config", None)
    cache = DynamicCache(config=config)
    pre_ids, pre_mask = pad_batch([p[:n] for p, n in zip(pos, prefix, strict=True)], pad_id)
    pre = forward_layers(module, blocks, pre_ids, pre_mask, layers, cache=cache)
    cache.batch_repeat_interleave(2)
    halves = [h[n:] for p, q, n in zip(pos, neg, prefix, strict=True) for h in (p, q)]
    suf_ids, suf_mask = pad_batch(halves, pad_id)
    twice = torch.tensor(list(prefix), dtype=torch.long).repeat_interleave(2)
    positions = twice[:, None] + torch.arange(suf_ids.shape[1])[None, :]
    mask = torch.cat([pre_mask.repeat_interleave(2, dim=0), suf_mask], dim=1)
    post = forward_layers(module, blocks, suf_ids, mask, layers, cache=cache,
                          position_ids=positions)  # fmt: skip
    pooled = []
    for k in layers:
        if pooling == "mean":
            pm = pre_mask.unsqueeze(-1).float()
            sm = suf_mask.unsqueeze(-1).float()
            pre_sum = (pre[k].float() * pm).sum(dim=1).repeat_interleave(2, dim=0)
            total = pre_sum + (post[k].float() * sm).sum(dim=1)
            count = pm.sum(dim=1).repeat_interleave(2, dim=0) + sm.sum(dim=1)
            pooled.append(total / count)
        else:
            pooled.append(pool(post[k], suf_mask, pooling).float())
    return torch.stack(pooled, dim=1)


def extract_pair_features(
    module: nn.Module,
    tokenizer: Any,
    pos: Sequence[str],
    neg: Sequence[str],
    layers: Sequence[int],
    *,
    pooling: Pooling,
    num_layers: int,
    batch_size: int = 32,
    max_length: int = 128,
    token_budget: int = DEFAULT_TOKEN_BUDGET,
    shared_prefix: bool = True,
    progress: bool = True,
    desc: str = "contrast features",
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features of text pairs (``pos[i]``, ``neg[i]``), two float32 arrays
    (len(pos), len(layers), hidden), the same as :func:`extract_features` of ``pos + neg``.

    ``module`` must be causal (a decoder) for ``shared_prefix``: the tokens two halves
    share at the start (a contrast pair's statement) are then run once, from a key/value
    cache, and only each half's own last tokens twice (:func:`_shared_prefix_batch`).
    Pairs sharing no token, or a module/spec :func:`supports_shared_prefix` rejects, take
    the full passes of :func:`extract_features`.
    """
    from tqdm.auto import tqdm

    if len(pos) != len(neg):
        raise ValueError(
            f"pair features need as many neg texts as pos texts; got {len(pos)} pos, {len(neg)} neg"
        )
    n = len(pos)
    hidden_size = int(getattr(module, "config").hidden_size)  # noqa: B009
    out = np.zeros((2, n, len(layers), hidden_size), dtype=np.float32)
    if n == 0:
        return out[0], out[1]
    blocks = find_blocks(module, num_layers)
    ids_pos = _token_ids(tokenizer, pos, max_length)
    ids_neg = _token_ids(tokenizer, neg, max_length)
    pad_id = pad_token_id(tokenizer)
    use = shared_prefix and supports_shared_prefix(module, layers, max_length)
    prefix = [
        shared_prefix_length(a, b) if use else 0 for a, b in zip(ids_pos, ids_neg, strict=True)
    ]
    shared = [i for i in range(n) if prefix[i] > 0]
    alone = [i for i in range(n) if prefix[i] == 0]
    with (
        torch.inference_mode(),
        tqdm(total=n, desc=desc, unit="pair", disable=not progress) as bar,
    ):
        for batch in length_batches([prefix[i] for i in shared], batch_size, token_budget):
            rows = [shared[int(b)] for b in batch]
            x = _shared_prefix_batch(module, blocks, [ids_pos[i] for i in rows],
                                     [ids_neg[i] for i in rows], [prefix[i] for i in rows],
                                     layers, pooling, pad_id).numpy()  # fmt: skip
            out[0, rows], out[1, rows] = x[0::2], x[1::2]
            bar.update(len(rows))
        if alone:
            rest = np.zeros((2 * len(alone), len(layers), hidden_size), dtype=np.float32)
            ids = [ids_pos[i] for i in alone] + [ids_neg[i] for i in alone]
            _pooled_into(rest, module, blocks, ids, layers, pooling, pad_id, batch_size,
                         token_budget, lambda k: bar.update(k / 2))  # fmt: skip
            out[0, alone], out[1, alone] = rest[: len(alone)], rest[len(alone) :]
    return out[0], out[1]
