"""The training loop: accelerate (accumulation, mixed precision, multi-process), resumable.

One optimizer step sees ``batch_size`` items, as ``batch_size / minibatch_size``
accumulated minibatches (accelerate's ``accumulate``; ``minibatch_size: auto``
is resolved first to as many items per pass as memory allows, minibatch.py); under ``accelerate
launch`` with N processes each process sees ``minibatch_size`` items per
forward pass and the accumulation is divided by N. Mixed precision is
accelerate's (``bf16`` autocast on CPU or GPU, ``fp16`` on GPU only). The
learning rate follows a cosine decay to zero over the whole run (the
reference's ``cosine_anneal``), with AdamW.

Determinism and resume: the epoch's item order is a permutation seeded by
(seed, epoch); dropout draws from torch's RNG reseeded per minibatch from
(seed, epoch, minibatch), inside ``torch.random.fork_rng`` so the caller's
RNG is untouched. A checkpoint (the trainable parameters, optimizer,
scheduler, step, model-selection state) is written atomically to
``checkpoint_dir/state.pt`` every ``checkpoint_every`` optimizer steps; a
killed run restarted with the same ``checkpoint_dir`` resumes at that step and
produces the same parameters as an uninterrupted one.

Batch statistics: a loss that takes ``batch_logits`` and ``batch_labels``
(logconf, for its quantile) is given the whole optimizer batch's logits from
a no-grad pass at the start of each step, so accumulating minibatches does
not change the loss (the reference computes it once on the stacked batch).

Model selection: ``evals_per_epoch`` times per epoch the model scores the
held-out set with ``selection`` (lower is better); the trainable parameters
of the best evaluation are restored at the end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm.auto import tqdm

from sandwich.elicit.finetune.allocator import retain_freed_memory
from sandwich.elicit.finetune.classifier import HeadClassifier, trainable_state
from sandwich.elicit.finetune.data import Encoded, RowDataset
from sandwich.elicit.finetune.frozen import FrozenBf16
from sandwich.elicit.finetune.minibatch import auto_minibatch
from sandwich.elicit.finetune.prefix import PrefixCache, frozen_prefix

MixedPrecision = Literal["no", "bf16", "fp16"]
CHECKPOINT_FILE = "state.pt"


@dataclass(frozen=True)
class TrainSettings:
    """The loop's settings, taken from a validated ``FineTuneElicitor.Params`` (which holds
    their constraints: ``batch_size`` a multiple of ``minibatch_size``, ...)."""

    epochs: int = 2
    lr: float = 5e-5
    batch_size: int = 32
    # items per forward pass; "auto": as many of the step's items as memory allows
    # (minibatch.py), resolved by ``train`` before the first step
    minibatch_size: int | Literal["auto"] = 8
    weight_decay: float = 0.0
    mixed_precision: MixedPrecision = "no"
    checkpoint_every: int = 20
    evals_per_epoch: int = 1
    # speed (docs/finetune.md "Speed"); each can be turned off to compare
    retain_memory: bool = True  # keep freed memory in the process (allocator.py)
    fused_optimizer: bool = True  # AdamW(fused=True): one kernel per step, no temporaries
    bucket_lengths: bool = True  # sort each optimizer step's items by length (less padding)
    cache_frozen: bool = True  # top mode: frozen blocks' outputs computed once (prefix.py)

    def accumulation(self, num_processes: int = 1) -> int:
        """Minibatches accumulated per optimizer step on each process."""
        return max(1, self.batch_size // (self.minibatch * num_processes))

    @property
    def minibatch(self) -> int:
        """``minibatch_size`` once resolved (``resolve_minibatch``)."""
        if self.minibatch_size == "auto":
            raise ValueError("minibatch_size: 'auto' must be resolved first (resolve_minibatch)")
        return self.minibatch_size


@dataclass
class Validation:
    """Held-out items and a score of their P(true) (lower is better)."""

    data: Encoded
    score: Callable[[np.ndarray], float]


@dataclass
class TrainResult:
    steps: int
    losses: list[float] = field(default_factory=list)
    val_scores: list[tuple[int, float]] = field(default_factory=list)  # (step, score)
    best_step: int | None = None
    resumed_from: int = 0
    tokens: int = 0  # real (unpadded) tokens seen in forward passes
    minibatch_size: int = 0  # items per forward pass, as used (``auto`` resolved)


Tensors = dict[str, torch.Tensor]  # a batch (input_ids, attention_mask, labels), a state
Best = tuple[float, Tensors | None]
"""The best held-out score so far and the trainable parameters that scored it."""


def _seed(*parts: int) -> int:
    return int(np.random.default_rng(list(parts)).integers(0, 2**62))


def _accelerator(settings: TrainSettings) -> Any:
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    # the mixed-precision setting lives in a process-wide singleton; each
    # training run sets its own (the distributed state is kept)
    AcceleratorState._reset_state(reset_partial_state=False)
    world = int(os.environ.get("WORLD_SIZE", "1"))  # set by accelerate launch / torchrun
    return Accelerator(
        gradient_accumulation_steps=settings.accumulation(world),
        mixed_precision=settings.mixed_precision,
        cpu=not torch.cuda.is_available(),
    )


def train(
    model: HeadClassifier,
    data: Encoded,
    labels: np.ndarray,
    loss_fn: Callable[..., torch.Tensor],
    settings: TrainSettings,
    *,
    seed: int,
    checkpoint_dir: Path | None = None,
    validation: Validation | None = None,
    progress: bool = False,
    desc: str = "fine-tune",
) -> TrainResult:
    """Train ``model``'s trainable parameters on ``labels`` (P(true) per item of ``data``)."""
    if len(labels) != len(data):
        raise ValueError(f"{len(labels)} labels for {len(data)} items")
    settings = resolve_minibatch(settings, model, data)
    with retain_freed_memory(settings.retain_memory):
        return _train(
            model, data, labels, loss_fn, settings, seed, checkpoint_dir, validation, progress, desc
        )


def resolve_minibatch(
    settings: TrainSettings, model: torch.nn.Module, data: Encoded
) -> TrainSettings:
    """``settings`` with ``minibatch_size: auto`` replaced by the number of items per forward
    pass that fits memory (``minibatch.auto_minibatch``); a number is kept."""
    if settings.minibatch_size != "auto":
        return settings
    world = int(os.environ.get("WORLD_SIZE", "1"))
    per_process = max(1, settings.batch_size // world)
    longest = max((len(row) for row in data.ids), default=1)
    config = getattr(getattr(model, "backbone", model), "config", None)
    size = auto_minibatch(per_process, longest, config)
    return dataclasses.replace(settings, minibatch_size=size)


def _train(
    model: HeadClassifier,
    data: Encoded,
    labels: np.ndarray,
    loss_fn: Callable[..., torch.Tensor],
    settings: TrainSettings,
    seed: int,
    checkpoint_dir: Path | None,
    validation: Validation | None,
    progress: bool,
    desc: str,
) -> TrainResult:
    acc = _accelerator(settings)
    mb_per_epoch = math.ceil(len(data) / settings.minibatch / acc.num_processes)
    steps_per_epoch = math.ceil(mb_per_epoch / acc.gradient_accumulation_steps)
    total = steps_per_epoch * settings.epochs
    eval_at = _eval_steps(steps_per_epoch, settings) if validation is not None else set()
    opt, sched = _optimizer(model, settings, total)
    ckpt = checkpoint_dir / CHECKPOINT_FILE if checkpoint_dir else None
    res, best = _resume(ckpt, model, opt, sched)
    res.minibatch_size = settings.minibatch
    y = torch.as_tensor(np.clip(labels, 0.0, 1.0), dtype=torch.float32)
    pmodel, popt = acc.prepare(model, opt)
    prefix = _prefix_cache(model, data, settings, acc)
    bf16 = settings.mixed_precision == "bf16" and prefix is None  # a cached prefix never runs
    low = FrozenBf16(model) if bf16 else None
    run = _Run(acc, pmodel, popt, sched, data, y, loss_fn, settings, seed, res, best, prefix, low)
    # gradient checkpointing recomputes the forward in the backward pass, outside the
    # attention switch: it must find the same kernel
    recomputes = any(getattr(m, "gradient_checkpointing", False) is True for m in model.modules())
    run.math_attention = settings.mixed_precision == "bf16" and not recomputes
    try:
        _epochs(run, steps_per_epoch, total, eval_at, ckpt, validation, progress, desc)
    finally:
        if low is not None:
            low.restore()
    model = acc.unwrap_model(run.model)
    if run.best[1] is not None:
        _load_trainable(model, run.best[1])
    model.eval()
    return res


def _epochs(
    run: _Run,
    steps_per_epoch: int,
    total: int,
    eval_at: set[int],
    ckpt: Path | None,
    validation: Validation | None,
    progress: bool,
    desc: str,
) -> None:
    """The training loop proper: every epoch's minibatches, from where ``run.res`` stands."""
    acc, res, settings, seed, data = run.acc, run.res, run.settings, run.seed, run.data
    loss_fn, sched = run.loss_fn, run.sched
    per_step = acc.gradient_accumulation_steps * acc.num_processes * settings.minibatch
    # a loss with batch statistics (logconf's quantile) gets the whole optimizer batch
    wants_batch = takes_batch(loss_fn) and acc.gradient_accumulation_steps * acc.num_processes > 1
    bar = tqdm(total=total, initial=res.steps, desc=desc, disable=not progress, leave=False)
    with torch.random.fork_rng(devices=[]):
        for epoch in range(res.steps // steps_per_epoch, settings.epochs):
            order = np.random.default_rng([seed, epoch, 31]).permutation(len(data)).tolist()
            if settings.bucket_lengths:
                order = bucket_by_length(order, data, per_step)
            done_mb = (res.steps - epoch * steps_per_epoch) * acc.gradient_accumulation_steps
            run.model.train()
            context: Tensors = {}
            for mb, batch in enumerate(run.loader(order, done_mb), start=max(done_mb, 0)):
                if wants_batch and mb % acc.gradient_accumulation_steps == 0:
                    # a new optimizer step: the whole batch's logits, before any minibatch
                    context = run.batch_context(order, mb, epoch)
                torch.manual_seed(_seed(seed, epoch, mb))
                loss = run.accumulate(batch, res.steps / total, context)
                res.tokens += int(batch["attention_mask"].sum())
                res.losses.append(float(loss.detach()))
                if not acc.sync_gradients:
                    continue
                sched.step()
                res.steps += 1
                bar.update(1)
                if res.steps in eval_at and validation is not None:
                    run.evaluate(validation)
                due = res.steps % settings.checkpoint_every == 0 or res.steps == total
                if ckpt is not None and due:
                    run.save(ckpt)
    bar.close()


SHORT = 64  # tokens: up to here bf16 attention trains faster on the math path on CPU


def short_attention(ids: torch.Tensor, allowed: bool) -> contextlib.AbstractContextManager[Any]:
    """The math attention (batched matmuls and a softmax) for short bf16 batches on CPU,
    else torch's choice (its flash kernel).

    In bf16 the CPU flash kernel has a fixed cost per call that dominates at a
    few dozen tokens: on smollm2-135m LoRA with minibatches of 8 statements of
    ~9 tokens its backward took 12 ms per layer, a quarter of the step. One
    thread, forward + backward, 8 x 9 heads (``benchmarks/train_step_threads.py
    --attention``, load 12.7): bf16 at 16 tokens flash 13.2 ms, math 0.9; at 64
    29.8 vs 14.5; at 256 even; at 1024 flash 2x faster. In fp32 flash is faster
    at every length, so fp32 keeps it. ``allowed``: bf16 autocast, and no gradient
    checkpointing (its recomputation would run outside this context).
    """
    if not allowed or ids.device.type != "cpu" or ids.shape[-1] > SHORT:
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.MATH])


def bucket_by_length(order: list[int], data: Encoded, per_step: int) -> list[int]:
    """``order`` with each optimizer step's items (consecutive slices of ``per_step``) sorted
    by length, so a minibatch pads to a width close to its items' own.

    A step's gradient is the mean over its minibatches, each the mean over its
    items; sorting inside the step changes which minibatch an item is in, not
    which step, so with full minibatches the step's gradient is the same (to
    float rounding). Across steps the order stays the shuffled one.
    """
    out: list[int] = []
    for start in range(0, len(order), per_step):
        out += sorted(order[start : start + per_step], key=lambda i: len(data.ids[i]))
    return out


def _prefix_cache(
    model: HeadClassifier, data: Encoded, settings: TrainSettings, acc: Any
) -> PrefixCache | None:
    """The frozen prefix's outputs for every item, in ``top`` mode (else None)."""
    found = frozen_prefix(model) if settings.cache_frozen else None
    if found is None:
        return None
    cache = PrefixCache(*found)
    cache.fill(model, data, acc.autocast, batch_size=max(32, settings.minibatch))
    return cache


def takes_batch(loss_fn: Callable[..., torch.Tensor]) -> bool:
    """True if the loss reads the whole optimizer batch (``batch_logits``, ``batch_labels``)."""
    try:
        params = inspect.signature(loss_fn).parameters
    except (TypeError, ValueError):
        return False
    return "batch_logits" in params and "batch_labels" in params


def _optimizer(model: torch.nn.Module, settings: TrainSettings, total: int) -> tuple[Any, Any]:
    """AdamW on the trainable parameters; the learning rate decays to zero along a cosine
    over ``total`` optimizer steps (the reference's ``cosine_anneal``)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the classifier has no trainable parameters")
    opt = _adamw(params, settings)
    return opt, torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )


def _adamw(params: list[torch.nn.Parameter], settings: TrainSettings) -> torch.optim.AdamW:
    """AdamW, fused where torch has the kernel (CPU and CUDA, floating parameters): the
    whole update in one pass over each parameter instead of a dozen elementwise ops,
    each allocating a temporary the size of the model; else torch's default."""
    lr, decay = settings.lr, settings.weight_decay
    if settings.fused_optimizer:
        try:
            return torch.optim.AdamW(params, lr=lr, weight_decay=decay, fused=True)
        except (RuntimeError, ValueError):  # a device or dtype without the fused kernel
            pass
    return torch.optim.AdamW(params, lr=lr, weight_decay=decay)


def _resume(ckpt: Path | None, model: Any, opt: Any, sched: Any) -> tuple[TrainResult, Best]:
    """The result and best so far, with the checkpoint loaded into the model, optimizer
    and scheduler; a fresh start where there is no checkpoint."""
    if ckpt is None or not ckpt.is_file():
        return TrainResult(steps=0), (math.inf, None)
    state = torch.load(ckpt, weights_only=False)
    _load_trainable(model, state["trainable"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    res = state["result"]
    res.resumed_from = res.steps
    return res, state["best"]


@dataclass
class _Run:
    """One run: what every minibatch uses (``model`` and ``opt`` as prepared by
    accelerate) and the state a checkpoint saves (``res``, ``best``)."""

    acc: Any
    model: Any
    opt: Any
    sched: Any
    data: Encoded
    y: torch.Tensor
    loss_fn: Callable[..., torch.Tensor]
    settings: TrainSettings
    seed: int
    res: TrainResult
    best: Best
    prefix: PrefixCache | None = None  # top mode: the frozen blocks' outputs, per item
    low: FrozenBf16 | None = None  # bf16: the frozen weights' bf16 copies, swapped in
    math_attention: bool = False  # short_attention may switch to the math path

    def forward(self, batch: Tensors) -> torch.Tensor:
        """The logits of ``batch`` under the run's autocast; from the cached prefix if any."""
        ids, mask = batch["input_ids"], batch["attention_mask"]
        with self.acc.autocast(), short_attention(ids, self.math_attention):
            if self.prefix is None:
                return self.model(ids, mask)
            with self.prefix.feeding(batch["rows"].tolist(), ids.device):
                return self.model(ids, mask)

    def loader(self, order: list[int], skip: int) -> Any:
        """The epoch's minibatches in ``order``, less the first ``skip`` (done before a resume)."""

        def collate(rows: list[int]) -> Tensors:
            return {**self.data.batch(rows), "labels": self.y[rows], "rows": torch.tensor(rows)}

        rows = RowDataset(order)
        size = self.settings.minibatch
        loader = self.acc.prepare(
            torch.utils.data.DataLoader(rows, batch_size=size, collate_fn=collate)
        )
        return self.acc.skip_first_batches(loader, skip) if skip > 0 else loader

    def accumulate(self, batch: Tensors, progress: float, context: Tensors) -> torch.Tensor:
        """One minibatch's forward and backward pass; the optimizer steps (and the gradient
        is cleared) at the end of the accumulation only, where accelerate syncs gradients."""
        with self.acc.accumulate(self.model):
            logits = self.forward(batch)
            loss = self.loss_fn(logits.float(), batch["labels"], progress, **context)
            self.acc.backward(loss)
            self.opt.step()
            self.opt.zero_grad()
        return loss

    @torch.no_grad()
    def batch_context(self, order: list[int], mb: int, epoch: int) -> Tensors:
        """The whole batch's logits (no gradient) and labels, as the reference's loss sees them.

        The reference (openai/weak-to-strong) stacks the logits of every minibatch
        of a step and calls the loss once, so a batch statistic such as logconf's
        quantile is taken over the whole batch. Here each minibatch keeps its own
        backward pass (gradient accumulation: memory of one minibatch) and this
        extra forward pass supplies the batch (of the step that starts at minibatch
        ``mb``). Each minibatch is seeded as in the training pass, so with one process
        dropout draws the same masks and these are the logits the loss is computed on.
        """
        rows, first = _step_rows(order, mb, self.settings, self.acc)
        device = next(self.model.parameters()).device
        out, size = [], self.settings.minibatch
        for j, start in enumerate(range(0, len(rows), size)):
            part = rows[start : start + size]
            batch = {k: v.to(device) for k, v in self.data.batch(part).items()}
            torch.manual_seed(_seed(self.seed, epoch, first + j))
            out.append(self.forward({**batch, "rows": torch.tensor(part)}).float())
        return {"batch_logits": torch.cat(out), "batch_labels": self.y[rows].to(device)}

    def evaluate(self, validation: Validation) -> None:
        """Score the held-out set now; keep the trainable parameters if they score best."""
        with self.low.original() if self.low is not None else contextlib.nullcontext():
            p = predict(self.acc.unwrap_model(self.model), validation.data)
        score = validation.score(p)
        self.res.val_scores.append((self.res.steps, score))
        if score < self.best[0]:
            self.best = (score, trainable_state(self.acc.unwrap_model(self.model)))
            self.res.best_step = self.res.steps
        self.model.train()

    def save(self, path: Path) -> None:
        """Write the checkpoint atomically (temp file + rename), on the main process only."""
        self.acc.wait_for_everyone()
        if self.acc.is_main_process:
            path.parent.mkdir(parents=True, exist_ok=True)
            state = {
                "trainable": trainable_state(self.acc.unwrap_model(self.model)),
                "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(),
                "result": self.res,
                "best": self.best,
            }
            tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
            torch.save(state, tmp)
            os.replace(tmp, path)
        self.acc.wait_for_everyone()


def _step_rows(
    order: list[int], mb: int, settings: TrainSettings, acc: Any
) -> tuple[list[int], int]:
    """The items of the optimizer step that starts at this process's minibatch ``mb``.

    One optimizer step spans ``accumulation x processes`` consecutive minibatches
    of the epoch's order (accelerate deals minibatches to the processes in turn),
    so the step's items are one contiguous slice of ``order``: every process
    sees the same whole batch. Returns the items and the epoch index of the
    step's first minibatch.
    """
    per_step_mb = acc.gradient_accumulation_steps * acc.num_processes
    first = (mb // acc.gradient_accumulation_steps) * per_step_mb
    start = first * settings.minibatch
    return order[start : start + per_step_mb * settings.minibatch], first


def _eval_steps(steps_per_epoch: int, settings: TrainSettings) -> set[int]:
    k = settings.evals_per_epoch
    return {
        e * steps_per_epoch + max(1, round(steps_per_epoch * (j + 1) / k))
        for e in range(settings.epochs)
        for j in range(k)
    }


def _load_trainable(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    named = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            named[name].copy_(value)


def predict(
    model: torch.nn.Module,
    data: Encoded,
    batch_size: int = 32,
    mixed_precision: MixedPrecision = "no",
) -> np.ndarray:
    """P(true) for every item of ``data`` (batches sorted by length; order restored)."""

    def p_true(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.softmax(model(ids, mask).float(), dim=-1)[:, 1]

    return score_batches(model, data, p_true, batch_size, mixed_precision)


@torch.no_grad()
def score_batches(
    model: torch.nn.Module,
    data: Encoded,
    score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batch_size: int = 32,
    mixed_precision: MixedPrecision = "no",
) -> np.ndarray:
    """One number per item of ``data``: ``score(input_ids, attention_mask)`` of ``model``
    in eval mode, under autocast when ``mixed_precision`` asks, in batches sorted by
    length (order restored); the model's training mode is restored after."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(data)), key=lambda i: len(data.ids[i]))
    out = np.empty(len(data), dtype=np.float64)
    dtype = torch.bfloat16 if mixed_precision == "bf16" else torch.float16
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch = {k: v.to(device) for k, v in data.batch(rows).items()}
        with torch.autocast(device.type, dtype=dtype, enabled=mixed_precision != "no"):
            out[rows] = score(batch["input_ids"], batch["attention_mask"]).float().cpu().numpy()
    model.train(was_training)
    return out
