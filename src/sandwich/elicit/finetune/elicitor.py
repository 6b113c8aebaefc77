"""``finetune``: the strong model fine-tuned with a classification head on supervisor labels.

The Burns et al. (2023) weak-to-strong recipe: the strong model with a
zero-initialised head on its last-token hidden state, trained on the weak
supervisor's soft labels of B with a registered loss (``xent``, ``logconf``,
``product``), in one of three modes (``lora``, ``full``, ``top``), and scored
on T. See docs/finetune.md for every parameter and its default.

Model selection (``select``): ``weak`` (default) keeps the evaluation with the
lowest soft cross-entropy against the *supervisor's* labels of a held-out
``val_fraction`` of B (never gold); ``oracle`` keeps the one with the best
accuracy against B's gold labels on the same held-out part (a diagnostic: the
cell is flagged ``oracle``); ``last`` keeps the final weights (the paper's
fixed-length training).

Bootstrapping (``chain``): models trained before the strong one, in order.
The first is trained on the supervisor's labels of B, then labels all of B
(in-sample predictions, see docs), the next is trained on those labels, and
so on; the strong model, last, learns from the last link's labels. Every link
is scored on the report texts (T) so the report can show the chain.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from sandwich.config import Strict
from sandwich.elicit.base import TextElicitor
from sandwich.elicit.finetune.classifier import HeadClassifier, build_classifier, count_params
from sandwich.elicit.finetune.data import Encoded, encode
from sandwich.elicit.finetune.registry import LOSSES
from sandwich.elicit.finetune.train import (
    TrainResult,
    TrainSettings,
    Validation,
    predict,
    train,
)
from sandwich.elicit.probe import holdout_split, soft_log_loss
from sandwich.errors import required
from sandwich.metrics import accuracy

Select = Literal["weak", "oracle", "last"]
# the parameters that do not change how the model is trained on gold labels
# (the ceiling shares everything else, the data split and selection rule included)
_NOT_IN_CEILING = ("loss", "loss_params", "chain", "num_threads")


def reference_lr(n_params: int) -> float:
    """Full fine-tuning lr by model size, as in the reference code (openai/weak-to-strong):
    5e-5 for models up to GPT-2 medium's size (355M), 1e-5 for larger ones."""
    return 5e-5 if n_params <= 400_000_000 else 1e-5


def default_mixed_precision(hidden_size: int | None = None) -> Literal["no", "bf16", "fp16"]:
    """bf16 on a GPU that supports it, else fp16 on GPU. On CPU, bf16 autocast only where a
    training micro-benchmark (forward + backward at ``hidden_size``, measured once per
    machine and cached) found it faster and close enough, else fp32: without bf16 units
    a CPU runs bf16 several times slower (sandwich.models.precision, docs/models.md)."""
    import torch

    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    from sandwich.models.precision import choose

    return "bf16" if choose("training", hidden_size=hidden_size).dtype == "bfloat16" else "no"


class FineTuneElicitor(TextElicitor):
    """Fine-tuning elicitor (module docstring; every parameter: ``Params``, docs/finetune.md)."""

    class Params(Strict):
        """TRL-style: one typed field per setting, its default and where it comes from."""

        model_config = ConfigDict(json_schema_extra={"examples": [{"mode": "top", "epochs": 1}]})

        loss: str = Field(
            "xent", description="a registered loss: xent, logconf, product (`sandwich losses`)"
        )
        loss_params: dict[str, Any] = Field(
            default_factory=dict,
            description="the loss's own Params (`sandwich losses --params NAME`), e.g. "
            "{aux_weight: 0.75, warmup_frac: 0.2} for logconf; defaults filled in",
        )
        mode: Literal["lora", "full", "top"] = Field(
            "lora",
            description="lora (adapters + head; base frozen), full (every weight), top (head + "
            "the last top_k blocks and the final norm)",
        )
        top_k: int = Field(2, ge=1, description="blocks trained in top mode")
        lora_r: int = Field(8, ge=1, description="LoRA rank")
        lora_alpha: int = Field(16, ge=1, description="LoRA scale")
        lora_targets: list[str] | None = Field(
            None,
            description="module names to adapt; null: peft's per-architecture table (q_proj/"
            "v_proj for Llama, Gemma, ...), else every linear layer",
        )
        epochs: int = Field(2, ge=1, description="passes over B's training part (Burns et al.: 2)")
        lr: Annotated[float, Field(gt=0)] | Literal["auto"] = Field(
            "auto",
            description="auto: openai/weak-to-strong's lr by size for full/top (5e-5 up to "
            "~400M parameters, 1e-5 above), 10x that for lora; or a number",
        )
        batch_size: int = Field(32, ge=2, description="items per optimizer step (Burns et al.: 32)")
        minibatch_size: Annotated[int, Field(ge=2)] | Literal["auto"] = Field(
            "auto",
            description="items per forward pass (the rest of a step is gradient accumulation; "
            ">= 2 for logconf); auto: as many of the step's items as fit a quarter of the free "
            "memory (estimated from the model's config), at least 2",
        )
        weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay (reference: Adam)")
        max_length: int = Field(64, ge=4, description="tokens per item (truncated on the right)")
        pooling: Literal["auto", "last", "mean"] = Field(
            "last",
            description="the head reads the last real token (Burns et al.), the mean over tokens, "
            "or auto (mean for encoders, last for decoders)",
        )
        mixed_precision: Literal["auto", "no", "bf16", "fp16"] = Field(
            "auto",
            description="auto: bf16 on a GPU that supports it, else fp16 on GPU; on CPU bf16 "
            "where measured faster (once per machine), else no",
        )
        gradient_checkpointing: bool = Field(
            False, description="recompute activations in the backward pass (less memory)"
        )
        select: Select = Field(
            "weak",
            description="model selection: weak (lowest soft CE against the supervisor's held-out "
            "labels), oracle (best gold accuracy: a diagnostic), last (final weights, the paper's)",
        )
        val_fraction: float = Field(
            0.2, ge=0.0, lt=1.0, description="share of B held out for selection (> 0 unless last)"
        )
        evals_per_epoch: int = Field(2, ge=1, description="selection candidates per epoch")
        checkpoint_every: int = Field(
            10, ge=1, description="optimizer steps between checkpoints (resume)"
        )
        chain: list[str] = Field(
            default_factory=list,
            description="bootstrapping: models trained before the strong one, in order",
        )
        num_threads: int | None = Field(
            None, ge=1, description="torch threads while training (null: torch's setting)"
        )

        @model_validator(mode="after")
        def _check(self) -> Self:
            if self.minibatch_size != "auto" and self.batch_size % self.minibatch_size:
                raise ValueError(
                    f"batch_size: {self.batch_size} must be a multiple of minibatch_size "
                    f"({self.minibatch_size})"
                )
            if self.select != "last" and self.val_fraction == 0:
                raise ValueError(f"val_fraction: select={self.select!r} needs val_fraction > 0")
            if self.loss not in LOSSES:
                raise ValueError(f"loss: {LOSSES.unknown_message(self.loss)}")
            # the loss's own Params: loss is the discriminator of loss_params
            where = f"loss_params for {self.loss!r}"
            resolved = LOSSES.resolve_within(self.loss, self.loss_params, where)
            object.__setattr__(self, "loss_params", resolved)
            return self

    hparams: Params

    def _mixed_precision(self) -> Literal["no", "bf16", "fp16"]:
        mp = self.hparams.mixed_precision
        return default_mixed_precision() if mp == "auto" else mp

    def _settings(self, lr: float) -> TrainSettings:
        same = {f.name for f in dataclasses.fields(TrainSettings)} - {"lr", "mixed_precision"}
        hp = self.hparams.model_dump(include=same)
        return TrainSettings(**hp, lr=lr, mixed_precision=self._mixed_precision())

    def resolved_params(self) -> dict[str, Any]:
        """The params with every ``auto`` replaced by the value used, for results specs.

        ``mixed_precision`` resolves before training (it depends on the hardware);
        ``lr``, ``pooling`` and ``minibatch_size`` depend on the model (and the
        memory free) and resolve once ``fit_text`` has built and trained it (before
        that they stay ``auto``; with a chain, the strong model's).
        """
        names = ("lr", "pooling", "minibatch_size")
        fitted = {k: vars(self)[f"{k}_"] for k in names if f"{k}_" in vars(self)}
        return {**self.get_params(), "mixed_precision": self._mixed_precision(), **fitted}

    @property
    def needs_gold(self) -> bool:
        return self.hparams.select == "oracle"

    def chain_models(self) -> list[str]:
        return list(self.hparams.chain)

    def control_overrides(self) -> dict[str, Any] | None:
        """The control of a non-``xent`` loss is the same fine-tuning with ``xent``."""
        return None if self.hparams.loss == "xent" else {"loss": "xent", "loss_params": {}}

    def ceiling_params(self) -> dict[str, Any]:
        """The params of the ceiling this student is compared with: trained the same way.

        Same mode, lengths, schedule, and the same data and selection settings
        (``select``, ``val_fraction``): a ``last`` student trains on all of B,
        so does its ceiling; a ``weak`` student selects against its labels on a
        held-out part of B, its ceiling against *its* labels (gold) on the same
        part. Only the loss (``xent``), the chain and the thread count differ.
        With ``select: last`` nothing is held out, so ``val_fraction`` and
        ``evals_per_epoch`` are normalised away (one shared ceiling).
        """
        params = {k: v for k, v in self.get_params().items() if k not in _NOT_IN_CEILING}
        if params["select"] == "last":
            params.update(val_fraction=0.0, evals_per_epoch=1)
        return {**params, "loss": "xent"}

    def describe(self) -> str:
        """E.g. ``finetune (lora, xent, select=weak, val_fraction=0.2)``: mode, loss, selection."""
        hp = self.hparams
        held = "" if hp.select == "last" else f", val_fraction={hp.val_fraction:g}"
        return f"finetune ({hp.mode}, {hp.loss}, select={hp.select}{held})"

    # -- training --------------------------------------------------------------
    def fit_text(
        self,
        models: Sequence[Any],
        texts: Sequence[str],
        y: np.ndarray,
        *,
        random_state: int = 0,
        workdir: Path | None = None,
        gold: np.ndarray | None = None,
        report_texts: Sequence[str] | None = None,
        progress: bool = False,
    ) -> Self:
        if len(models) != len(self.hparams.chain) + 1:
            raise ValueError(f"expected {len(self.hparams.chain) + 1} models (chain + strong)")
        if self.needs_gold and gold is None:
            raise ValueError("select='oracle' needs the gold labels of the training items")
        labels = np.clip(np.asarray(y, dtype=np.float64), 0.0, 1.0)
        if len(labels) != len(texts):
            raise ValueError(f"{len(labels)} labels for {len(texts)} texts")
        self.link_predictions_: list[np.ndarray] = []
        self.train_results_: list[TrainResult] = []
        with torch_threads(self.hparams.num_threads):
            for i, model in enumerate(models):
                link_dir = workdir / f"link-{i}" if workdir is not None else None
                self._fit_one(model, texts, labels, random_state, link_dir, gold, progress)
                if i == len(models) - 1:  # the strong model: kept as the fitted model
                    break
                if report_texts is not None:
                    self.link_predictions_.append(self.predict_proba_text(report_texts))
                labels = self.predict_proba_text(texts)  # this link labels B for the next one
                del self.model_
        return self

    def _fit_one(
        self,
        model: Any,
        texts: Sequence[str],
        labels: np.ndarray,
        seed: int,
        workdir: Path | None,
        gold: np.ndarray | None,
        progress: bool = False,
    ) -> None:
        clf, self.tokenizer_ = self._classifier(model, seed)
        lr = self.hparams.lr if self.hparams.lr != "auto" else self._auto_lr(count_params(clf)[1])
        data = encode(self.tokenizer_, texts, self.hparams.max_length)
        fit_idx, validation = self._holdout(data, labels, gold, seed)
        loss_fn = functools.partial(
            LOSSES.entry(self.hparams.loss).factory, **self.hparams.loss_params
        )
        result = train(
            clf,
            _subset(data, fit_idx),
            labels[fit_idx],
            loss_fn,
            self._settings(float(lr)),
            seed=seed,
            checkpoint_dir=workdir,
            validation=validation,
            progress=progress,
            desc=f"fine-tune {model.name} ({self.hparams.loss})",
        )
        self.model_ = clf
        self.lr_ = float(lr)
        self.minibatch_size_ = result.minibatch_size
        self.train_results_.append(result)

    def _classifier(self, model: Any, seed: int) -> tuple[HeadClassifier, Any]:
        """A fresh classifier on ``model``'s weights, and its tokenizer; ``seed`` fixes the
        initialisation (head, LoRA adapters) without touching the caller's RNG."""
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # LoRA's initialisation
            parts = model.training_backbone()  # a model without weights raises ConfigError
            pooling = self.hparams.pooling
            if pooling == "auto":
                pooling = "mean" if parts.kind == "encoder" else "last"
            self.pooling_ = pooling
            clf = build_classifier(
                parts.module,
                int(model.hidden_size),
                pooling=pooling,
                mode=self.hparams.mode,
                top_k=self.hparams.top_k,
                lora_r=self.hparams.lora_r,
                lora_alpha=self.hparams.lora_alpha,
                lora_target_modules=self.hparams.lora_targets,
                gradient_checkpointing=self.hparams.gradient_checkpointing,
            )
        return clf, parts.tokenizer

    def _holdout(
        self, data: Encoded, labels: np.ndarray, gold: np.ndarray | None, seed: int
    ) -> tuple[np.ndarray, Validation | None]:
        """The items to train on, and the held-out part of B that selects the weights:
        none with ``select: last``; else ``val_fraction`` of B, scored against the
        labels (soft log loss) or, with ``oracle``, against gold (error rate)."""
        if self.hparams.select == "last":
            return np.arange(len(labels)), None
        fit_idx, val_idx = holdout_split(len(labels), self.hparams.val_fraction, seed)
        if not len(val_idx):
            return fit_idx, None
        if self.hparams.select == "oracle":
            truth = required(gold, "select='oracle': the gold labels", ValueError)
            score = functools.partial(_error_rate, np.asarray(truth, dtype=np.float64)[val_idx])
        else:
            score = functools.partial(soft_log_loss, np.asarray(labels, dtype=np.float64)[val_idx])
        return fit_idx, Validation(_subset(data, val_idx), score)

    def _auto_lr(self, n_params: int) -> float:
        """The reference lr for full/top fine-tuning; 10x it for LoRA (adapters start at
        zero and need a larger step, the usual practice for LoRA)."""
        lr = reference_lr(n_params)
        return lr * 10 if self.hparams.mode == "lora" else lr

    def predict_proba_text(self, texts: Sequence[str]) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise RuntimeError("FineTuneElicitor.predict_proba_text called before fit_text")
        data = encode(self.tokenizer_, texts, self.hparams.max_length)
        with torch_threads(self.hparams.num_threads):
            return predict(self.model_, data, mixed_precision=self._mixed_precision())


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch threads (restored afterwards); None leaves the setting alone.

    On a CPU shared with other work, one thread avoids the stalls of torch's
    parallel regions waiting for a descheduled second thread (measured: a
    gemma3-270m LoRA step 5-7x faster with 1 thread than with 2 at load 12-15
    on a 2-core machine, benchmarks/train_step_threads.py).
    """
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _subset(data: Any, rows: np.ndarray) -> Any:
    return type(data)([data.ids[i] for i in rows], data.pad_id)


def _error_rate(gold: np.ndarray, p: np.ndarray) -> float:
    return 1.0 - accuracy(gold, p)
