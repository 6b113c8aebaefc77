"""bf16 training: frozen matmul weights cast to bf16 once, not at every forward pass.

Under ``torch.autocast(dtype=bfloat16)`` a linear layer runs in bf16 (oneDNN's
bf16 kernels on a CPU with avx512_bf16/AMX) and autocast casts its fp32 weight
to bf16 first. It caches that cast only for weights that require a gradient,
so a frozen weight (LoRA's base weights, the frozen blocks of ``top`` mode) is
cast again at every forward pass: a pass over all the model's weights per
minibatch, often costing more than the bf16 matmuls save.
``FrozenBf16`` keeps a bf16 copy of every frozen ``nn.Linear`` weight and bias
and swaps it in while training (swapping ``.data`` costs nothing); autocast
then finds bf16 weights and casts only the activations. The values are the
ones autocast would compute (the same round-to-nearest cast), so the logits
are those of plain autocast (tests/elicit/finetune/test_speed.py).
``original()`` swaps the fp32 weights back (evaluation in fp32, checkpoints);
``restore()`` ends it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


class FrozenBf16:
    """bf16 copies of the frozen linear weights of ``model`` (module docstring)."""

    def __init__(self, model: nn.Module) -> None:
        self.params = [
            p
            for m in model.modules()
            if isinstance(m, nn.Linear)
            for p in (m.weight, m.bias)
            if p is not None and not p.requires_grad and p.dtype == torch.float32
        ]
        self.fp32 = [p.data for p in self.params]
        self.bf16 = [d.to(torch.bfloat16) for d in self.fp32]
        self._swap(self.bf16)

    def __len__(self) -> int:
        return len(self.params)

    def _swap(self, data: list[torch.Tensor]) -> None:
        for p, d in zip(self.params, data, strict=True):
            p.data = d

    @contextlib.contextmanager
    def original(self) -> Iterator[None]:
        """The fp32 weights within the block."""
        self._swap(self.fp32)
        try:
            yield
        finally:
            self._swap(self.bf16)

    def restore(self) -> None:
        """The fp32 weights for good (the bf16 copies are dropped)."""
        self._swap(self.fp32)
        self.bf16 = []
