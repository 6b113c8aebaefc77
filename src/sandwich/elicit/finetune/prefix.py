"""``top`` mode: the frozen lower blocks' outputs, computed once per item and reused every epoch.

In ``top`` mode everything below the last ``top_k`` blocks is frozen (the
embeddings and the first ``n - top_k`` blocks), so what it hands the first
trainable block for an item never changes during training. ``PrefixCache``
runs the frozen prefix once over the training items (no gradient, eval mode:
frozen blocks run as at inference, without dropout; the same as training for
decoders, whose attention dropout is 0), keeps each item's hidden states
(unpadded, on the CPU), and during training feeds them straight into the first
trainable block: the prefix blocks are skipped (their ``forward`` returns its
input) and a pre-hook on the first trainable block swaps in the cached hidden
states. The model's own code still builds the attention mask and positions
(rotary embeddings, sliding windows) from ``input_ids``, so any architecture
whose blocks are an ``nn.ModuleList`` works unchanged.

With right padding a real token never attends to a pad, so an item's hidden
states do not depend on the batch it was computed in: the cached forward gives
the full forward's logits to float tolerance
(tests/elicit/finetune/test_speed.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from sandwich.elicit.finetune.data import Encoded
from sandwich.models.extract import find_blocks

FINAL_NORMS = ("norm", "final_layernorm", "ln_f")  # after the blocks: trained in top mode


class _Stop(Exception):
    """Raised by the capture hook: nothing above the prefix needs computing."""


def frozen_prefix(model: nn.Module) -> tuple[nn.ModuleList, int] | None:
    """The backbone's blocks and how many leading ones are frozen, for a ``top`` classifier
    whose prefix is worth caching (at least one frozen block); else None."""
    frozen = int(getattr(model, "frozen_blocks", 0))
    if frozen <= 0:
        return None
    backbone: Any = model.backbone
    blocks = find_blocks(backbone, int(backbone.config.num_hidden_layers))
    inside = {id(p) for b in blocks[frozen:] for p in b.parameters()}
    trainable = [
        n
        for n, p in backbone.named_parameters()
        if p.requires_grad and id(p) not in inside and n.split(".")[0] not in FINAL_NORMS
    ]
    if trainable:
        raise ValueError(
            f"cannot cache the first {frozen} blocks: trainable parameters below the top "
            f"blocks ({', '.join(trainable[:3])})"
        )
    return blocks, frozen


def _hidden(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    return args[0] if args else kwargs["hidden_states"]


class PrefixCache:
    """Each item's input to the first trainable block (module docstring)."""

    def __init__(self, blocks: nn.ModuleList, frozen: int) -> None:
        self.blocks = blocks
        self.frozen = frozen
        self.states: list[torch.Tensor] = []
        self.tuple_out = False  # do the blocks return a tuple (BERT) or a tensor (Llama)?

    @torch.no_grad()
    def fill(
        self,
        model: nn.Module,
        data: Encoded,
        autocast: Callable[[], Any],
        batch_size: int = 32,
    ) -> None:
        """Run the frozen prefix over every item of ``data`` (batches sorted by length)."""
        states: list[torch.Tensor | None] = [None] * len(data)
        device = next(model.parameters()).device
        captured: dict[str, torch.Tensor] = {}

        def capture(_m: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            captured["h"] = _hidden(args, kwargs)
            raise _Stop

        def shape(_m: nn.Module, _args: Any, out: Any) -> None:
            self.tuple_out = isinstance(out, tuple)

        pre = self.blocks[self.frozen].register_forward_pre_hook(capture, with_kwargs=True)
        post = self.blocks[0].register_forward_hook(shape)
        was_training = model.training
        model.eval()
        order = sorted(range(len(data)), key=lambda i: len(data.ids[i]))
        try:
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                batch = {k: v.to(device) for k, v in data.batch(rows).items()}
                with contextlib.suppress(_Stop), autocast():
                    model(batch["input_ids"], batch["attention_mask"])
                h = captured.pop("h").detach().to("cpu")
                for j, i in enumerate(rows):
                    states[i] = h[j, : len(data.ids[i])].clone()
        finally:
            pre.remove()
            post.remove()
            model.train(was_training)
        self.states = [s for s in states if s is not None]

    def batch(self, rows: Sequence[int], device: torch.device) -> torch.Tensor:
        """The cached hidden states of ``rows``, right-padded with zeros to the longest."""
        parts = [self.states[i] for i in rows]
        width = max(len(p) for p in parts)
        out = parts[0].new_zeros((len(parts), width, parts[0].shape[-1]))
        for j, p in enumerate(parts):
            out[j, : len(p)] = p
        return out.to(device)

    @contextlib.contextmanager
    def feeding(self, rows: Sequence[int], device: torch.device) -> Iterator[None]:
        """Within the block, a forward pass of the model skips the frozen blocks and starts
        the first trainable one from the cached hidden states of ``rows``."""
        hidden = self.batch(rows, device)

        def skip(*args: Any, **kwargs: Any) -> Any:
            h = _hidden(args, kwargs)
            return (h,) if self.tuple_out else h

        def feed(
            _m: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> tuple[tuple[Any, ...], dict[str, Any]]:
            if args:
                return (hidden.to(args[0].dtype), *args[1:]), kwargs
            return args, {**kwargs, "hidden_states": hidden.to(kwargs["hidden_states"].dtype)}

        for block in self.blocks[: self.frozen]:
            block.forward = skip  # an instance attribute: nn.Module.__call__ calls it
        hook = self.blocks[self.frozen].register_forward_pre_hook(feed, with_kwargs=True)
        try:
            yield
        finally:
            hook.remove()
            for block in self.blocks[: self.frozen]:
                del block.forward
