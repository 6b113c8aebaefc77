"""``minibatch_size: auto``: each optimizer step's items in as few forward passes as memory allows.

Why: an optimizer step of 32 items run as 4 accumulated minibatches of 8
makes every matmul 4 times smaller than it needs to be, runs every per-call
cost (the layers' Python, attention calls, autocast's casts of trained fp32
weights to bf16, the accumulation of each weight gradient into ``.grad``) 4
times, and, with a loss that reads the whole batch (logconf), needs an extra
no-grad forward pass over the step. One pass over the 32 items computes the
same loss and gradient (the mean over the same items; only the order of the
float sums changes). What limits it is memory: the backward pass keeps every
layer's activations of the minibatch.

``auto`` picks the largest divisor of the per-process batch (at least 2, so a
loss with batch statistics always sees two items) whose *estimated*
activation memory fits a budget: a quarter of the memory available when
training starts (``/proc/meminfo``'s MemAvailable, the GPU's free memory on
CUDA), at most ``CAP``. The estimate is a rough upper bound per token and
layer from the model's config (below); the widest minibatch is taken as
items x the longest item of the data (minibatches are padded to their
longest item, and length sorting puts long items together).
"""

from __future__ import annotations

import os
from typing import Any

import torch

CAP = 4 * 2**30  # bytes: the most auto lets one forward pass's activations take
SHARE = 0.25  # of the memory available at the start
FALLBACK_MEMORY = 8 * 2**30  # where neither /proc/meminfo nor sysconf tells


def available_memory(device: torch.device | None = None) -> int:
    """Bytes free for the training's activations on ``device`` (CPU: MemAvailable)."""
    if device is not None and device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return FALLBACK_MEMORY


def activation_bytes_per_token(config: Any, max_tokens: int) -> int:
    """A rough estimate of what the backward pass keeps per token, all layers, in fp32.

    Per layer: ~16 hidden-sized vectors (norms, q/k/v/o inputs and outputs, the
    residual stream), 4 intermediate-sized ones (the MLP's gate, up, activation
    and product) and the attention probabilities (heads x ``max_tokens`` keys,
    twice for the math path's softmax input and output); 4 bytes each (bf16
    autocast keeps less). On smollm2-135m (~9-token items) it gives 1.9 MB a
    token; LoRA fp32 training's peak RSS grew by 0.40 GiB from passes of 8 to
    passes of 32 items, ~2 MB per added token (``benchmarks/train_throughput.py
    --quick``, BENCHMARKS.md). The budget (a quarter of the free memory) leaves
    the margin.
    """
    hidden = int(getattr(config, "hidden_size", 0) or getattr(config, "d_model", 0) or 1024)
    inter = int(getattr(config, "intermediate_size", 0) or 4 * hidden)
    layers = int(getattr(config, "num_hidden_layers", 0) or getattr(config, "n_layer", 0) or 24)
    heads = int(getattr(config, "num_attention_heads", 0) or 16)
    return layers * (16 * hidden + 4 * inter + 2 * heads * max_tokens) * 4


def auto_minibatch(
    per_process_batch: int, max_tokens: int, config: Any, budget: int | None = None
) -> int:
    """The largest divisor of ``per_process_batch`` (>= 2 where the batch allows) whose
    activations (estimated for minibatches of ``max_tokens``-token items) fit ``budget``
    (default: ``SHARE`` of the available memory, at most ``CAP``)."""
    if per_process_batch < 1 or max_tokens < 1:
        raise ValueError(
            f"auto minibatch: needs a batch and items of at least 1 (got {per_process_batch} "
            f"items per process, {max_tokens} tokens)"
        )
    budget = min(int(SHARE * available_memory()), CAP) if budget is None else budget
    per_item = activation_bytes_per_token(config, max_tokens) * max_tokens
    divisors = [d for d in range(per_process_batch, 0, -1) if per_process_batch % d == 0]
    smallest = min(2, per_process_batch)
    for d in divisors:
        if d >= smallest and d * per_item <= budget:
            return d
    return next(d for d in reversed(divisors) if d >= smallest)
