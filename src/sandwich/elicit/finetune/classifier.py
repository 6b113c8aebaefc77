"""The strong model with a classification head: backbone + zero-initialised linear head.

The head reads one vector per item: the last real token's hidden state (the
reference's choice, and the default for decoders) or the mean over real tokens
(the default for encoders, as in feature extraction). It is initialised to
zero, as in the reference code, so training starts at P(true) = 0.5 for every
item.

Which parameters train (``mode``):

- ``full``: every parameter of the backbone and the head;
- ``lora``: low-rank adapters (peft) on the backbone's attention projections
  plus the head; the base weights stay frozen. Target modules come from peft's
  per-architecture table (``q_proj``/``v_proj`` for Llama and Gemma,
  ``query``/``value`` for BERT, ...), else every linear layer; override with
  ``lora_targets``;
- ``top``: the head plus the last ``top_k`` transformer blocks and the final
  norm (if any); everything below stays frozen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import nn

from sandwich.models.extract import find_blocks

Mode = Literal["full", "lora", "top"]
Pooling = Literal["last", "mean"]


class HeadClassifier(nn.Module):
    """``backbone`` -> pooled hidden state -> ``Linear(hidden, 2)`` (zero-initialised)."""

    def __init__(self, backbone: nn.Module, hidden_size: int, pooling: Pooling) -> None:
        super().__init__()
        self.backbone = backbone
        self.pooling = pooling
        self.head = nn.Linear(hidden_size, 2)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        # top mode: leading blocks that are frozen (with everything below them), whose
        # outputs the training loop may compute once per item (prefix.PrefixCache)
        self.frozen_blocks = 0

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask)
        h = out.last_hidden_state  # (batch, seq, hidden); padding is on the right
        mask = attention_mask.to(h.dtype)
        if self.pooling == "mean":
            pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp_min(1.0)
        else:
            last = attention_mask.long().sum(1).clamp_min(1) - 1
            pooled = h[torch.arange(len(h), device=h.device), last]
        return self.head(pooled.to(self.head.weight.dtype))


def lora_targets(backbone: nn.Module) -> list[str] | str:
    """peft's per-architecture LoRA targets for this backbone, else "all-linear"."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as table

    model_type = getattr(getattr(backbone, "config", None), "model_type", None)
    found = table.get(model_type or "")
    return list(found) if isinstance(found, list) else "all-linear"


def top_block_params(backbone: nn.Module, top_k: int) -> list[nn.Parameter]:
    """Parameters of the last ``top_k`` blocks and of a final norm after them."""
    config: Any = backbone.config
    n_layers = int(config.num_hidden_layers)
    if not 1 <= top_k <= n_layers:
        raise ValueError(f"top_k must be in 1..{n_layers} for this model, got {top_k}")
    blocks = find_blocks(backbone, n_layers)
    params = [p for block in list(blocks)[n_layers - top_k :] for p in block.parameters()]
    for name in ("norm", "final_layernorm", "ln_f"):  # decoders' final norm
        sub = getattr(backbone, name, None)
        if isinstance(sub, nn.Module):
            params += list(sub.parameters())
    return params


def build_classifier(
    backbone: nn.Module,
    hidden_size: int,
    *,
    pooling: Pooling,
    mode: Mode,
    top_k: int = 2,
    lora_r: int = 8,
    lora_alpha: int = 16,
    lora_dropout: float = 0.0,
    lora_target_modules: Sequence[str] | None = None,
    gradient_checkpointing: bool = False,
) -> HeadClassifier:
    """Wrap ``backbone`` with a zero head and mark the parameters ``mode`` trains."""
    if gradient_checkpointing:
        backbone.gradient_checkpointing_enable(  # type: ignore[operator]
            gradient_checkpointing_kwargs={"use_reentrant": False}
        )
    if hasattr(backbone.config, "use_cache"):
        backbone.config.use_cache = False
    pooler = getattr(backbone, "pooler", None)
    if isinstance(pooler, nn.Module):  # BERT's pooler: the head pools by itself, never used
        pooler.requires_grad_(False)
    if mode == "lora":
        from peft import LoraConfig, get_peft_model

        targets: Any = list(lora_target_modules) if lora_target_modules else lora_targets(backbone)
        cfg = LoraConfig(
            r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout, target_modules=targets
        )
        backbone = get_peft_model(backbone, cfg)  # freezes the base weights
    elif mode == "top":
        trainable = {id(p) for p in top_block_params(backbone, top_k)}
        for p in backbone.parameters():
            p.requires_grad_(id(p) in trainable)
    elif mode != "full":
        raise ValueError(f"mode must be one of full, lora, top; got {mode!r}")
    clf = HeadClassifier(backbone, hidden_size, pooling)
    if mode == "top":
        config: Any = backbone.config
        clf.frozen_blocks = int(config.num_hidden_layers) - top_k
    return clf


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of the trainable parameters, by name (what checkpoints and selection keep)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def count_params(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total
