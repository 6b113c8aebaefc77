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
import functools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np

from sandwich.elicit.base import TextElicitor
from sandwich.elicit.finetune.classifier import HeadClassifier, build_classifier, count_params
from sandwich.elicit.finetune.data import Encoded, encode
from sandwich.elicit.finetune.losses import LOSSES
from sandwich.elicit.finetune.train import (
    TrainResult,
    TrainSettings,
    Validation,
    predict,
    train,
)
from sandwich.elicit.probe import holdout_split, soft_log_loss
from sandwich.elicit.registry import ELICITORS
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


def default_mixed_precision() -> Literal["no", "bf16", "fp16"]:
    """bf16 on a GPU that supports it, else fp16 on GPU; fp32 on CPU (measured faster here,
    see BENCHMARKS.md)."""
    import torch

    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


@ELICITORS.register(
    "finetune", summary="fine-tune the strong model with a zero-init head (Burns et al. 2023)"
)
class FineTuneElicitor(TextElicitor):
    """Fine-tuning elicitor; parameters are documented in docs/finetune.md."""

    def __init__(
        self,
        loss: str = "xent",
        loss_params: dict[str, float] | None = None,
        mode: Literal["lora", "full", "top"] = "lora",
        top_k: int = 2,
        lora_r: int = 8,
        lora_alpha: int = 16,
        lora_targets: Sequence[str] | None = None,
        epochs: int = 2,
        lr: float | Literal["auto"] = "auto",
        batch_size: int = 32,
        minibatch_size: int = 8,
        weight_decay: float = 0.0,
        max_length: int = 64,
        pooling: Literal["auto", "last", "mean"] = "last",
        mixed_precision: Literal["auto", "no", "bf16", "fp16"] = "auto",
        gradient_checkpointing: bool = False,
        select: Select = "weak",
        val_fraction: float = 0.2,
        evals_per_epoch: int = 2,
        checkpoint_every: int = 10,
        chain: Sequence[str] = (),
        num_threads: int | None = None,
    ) -> None:
        self.loss = loss
        self.loss_params = dict(loss_params or {})
        self.mode = mode
        self.top_k = top_k
        self.lora_r = lora_r
        self.lora_alpha = lora_alpha
        self.lora_targets = list(lora_targets) if lora_targets else None
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.minibatch_size = minibatch_size
        self.weight_decay = weight_decay
        self.max_length = max_length
        self.pooling = pooling
        self.mixed_precision = mixed_precision
        self.gradient_checkpointing = gradient_checkpointing
        self.select = select
        self.val_fraction = val_fraction
        self.evals_per_epoch = evals_per_epoch
        self.checkpoint_every = checkpoint_every
        self.chain = list(chain)
        self.num_threads = num_threads

    # -- parameters ----------------------------------------------------------
    def check_params(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss: {LOSSES.unknown_message(self.loss)}")
        try:  # a bad loss parameter fails now, not after a model has loaded
            import torch

            LOSSES.entry(self.loss).factory(
                torch.zeros(2, 2), torch.tensor([0.0, 1.0]), 0.5, **self.loss_params
            )
        except TypeError as exc:
            raise ValueError(f"loss_params for {self.loss!r}: {exc}") from None
        choices = {
            "mode": ("lora", "full", "top"),
            "pooling": ("auto", "last", "mean"),
            "mixed_precision": ("auto", "no", "bf16", "fp16"),
            "select": ("weak", "oracle", "last"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.lr != "auto" and not (isinstance(self.lr, int | float) and self.lr > 0):
            raise ValueError(f"lr must be a positive number or 'auto', got {self.lr!r}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.select != "last" and self.val_fraction == 0:
            raise ValueError(f"select={self.select!r} needs val_fraction > 0")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"num_threads must be >= 1 or null, got {self.num_threads}")
        for name, least in (("top_k", 1), ("lora_r", 1), ("max_length", 4)):
            if getattr(self, name) < least:
                raise ValueError(f"{name} must be >= {least}, got {getattr(self, name)}")
        if not isinstance(self.chain, list) or not all(isinstance(m, str) for m in self.chain):
            raise ValueError(f"chain must be a list of model names, got {self.chain!r}")
        self._settings(1.0).check()

    def _mixed_precision(self) -> Literal["no", "bf16", "fp16"]:
        return default_mixed_precision() if self.mixed_precision == "auto" else self.mixed_precision

    def _settings(self, lr: float) -> TrainSettings:
        return TrainSettings(
            epochs=self.epochs,
            lr=lr,
            batch_size=self.batch_size,
            minibatch_size=self.minibatch_size,
            weight_decay=self.weight_decay,
            mixed_precision=self._mixed_precision(),
            checkpoint_every=self.checkpoint_every,
            evals_per_epoch=self.evals_per_epoch,
        )

    @property
    def needs_gold(self) -> bool:
        return self.select == "oracle"

    def chain_models(self) -> list[str]:
        return list(self.chain)

    def control_overrides(self) -> dict[str, Any] | None:
        """The control of a non-``xent`` loss is the same fine-tuning with ``xent``."""
        return None if self.loss == "xent" else {"loss": "xent", "loss_params": {}}

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
        held = "" if self.select == "last" else f", val_fraction={self.val_fraction:g}"
        return f"finetune ({self.mode}, {self.loss}, select={self.select}{held})"

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
        self.check_params()
        if len(models) != len(self.chain) + 1:
            raise ValueError(f"expected {len(self.chain) + 1} models (chain + strong)")
        if self.needs_gold and gold is None:
            raise ValueError("select='oracle' needs the gold labels of the training items")
        labels = np.clip(np.asarray(y, dtype=np.float64), 0.0, 1.0)
        if len(labels) != len(texts):
            raise ValueError(f"{len(labels)} labels for {len(texts)} texts")
        self.link_predictions_: list[np.ndarray] = []
        self.train_results_: list[TrainResult] = []
        with torch_threads(self.num_threads):
            self._fit_chain(
                models, texts, labels, random_state, workdir, gold, report_texts, progress
            )
        return self

    def _fit_chain(
        self,
        models: Sequence[Any],
        texts: Sequence[str],
        labels: np.ndarray,
        random_state: int,
        workdir: Path | None,
        gold: np.ndarray | None,
        report_texts: Sequence[str] | None,
        progress: bool,
    ) -> None:
        for i, model in enumerate(models):
            link_dir = workdir / f"link-{i}" if workdir is not None else None
            self._fit_one(model, texts, labels, random_state, link_dir, gold, progress)
            if i == len(models) - 1:  # the strong model: kept as the fitted model
                break
            if report_texts is not None:
                self.link_predictions_.append(self.predict_proba_text(report_texts))
            labels = self.predict_proba_text(texts)  # this link labels B for the next one
            del self.model_

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
        lr = self.lr if self.lr != "auto" else self._auto_lr(count_params(clf)[1])
        data = encode(self.tokenizer_, texts, self.max_length)
        fit_idx, validation = self._holdout(data, labels, gold, seed)
        loss_fn = functools.partial(LOSSES.entry(self.loss).factory, **self.loss_params)
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
            desc=f"fine-tune {model.name} ({self.loss})",
        )
        self.model_ = clf
        self.lr_ = float(lr)
        self.train_results_.append(result)

    def _classifier(self, model: Any, seed: int) -> tuple[HeadClassifier, Any]:
        """A fresh classifier on ``model``'s weights, and its tokenizer; ``seed`` fixes the
        initialisation (head, LoRA adapters) without touching the caller's RNG."""
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # LoRA's initialisation
            parts = model.training_backbone()  # a model without weights raises ConfigError
            pooling = self.pooling
            if pooling == "auto":
                pooling = "mean" if parts.kind == "encoder" else "last"
            clf = build_classifier(
                parts.module,
                int(model.hidden_size),
                pooling=pooling,
                mode=self.mode,
                top_k=self.top_k,
                lora_r=self.lora_r,
                lora_alpha=self.lora_alpha,
                lora_target_modules=self.lora_targets,
                gradient_checkpointing=self.gradient_checkpointing,
            )
        return clf, parts.tokenizer

    def _holdout(
        self, data: Encoded, labels: np.ndarray, gold: np.ndarray | None, seed: int
    ) -> tuple[np.ndarray, Validation | None]:
        """The items to train on, and the held-out part of B that selects the weights:
        none with ``select: last``; else ``val_fraction`` of B, scored against the
        labels (soft log loss) or, with ``oracle``, against gold (error rate)."""
        if self.select == "last":
            return np.arange(len(labels)), None
        fit_idx, val_idx = holdout_split(len(labels), self.val_fraction, seed)
        if not len(val_idx):
            return fit_idx, None
        if self.select == "oracle":
            truth = required(gold, "select='oracle': the gold labels", ValueError)
            score = functools.partial(_error_rate, np.asarray(truth, dtype=np.float64)[val_idx])
        else:
            score = functools.partial(soft_log_loss, np.asarray(labels, dtype=np.float64)[val_idx])
        return fit_idx, Validation(_subset(data, val_idx), score)

    def _auto_lr(self, n_params: int) -> float:
        """The reference lr for full/top fine-tuning; 10x it for LoRA (adapters start at
        zero and need a larger step, the usual practice for LoRA)."""
        lr = reference_lr(n_params)
        return lr * 10 if self.mode == "lora" else lr

    def predict_proba_text(self, texts: Sequence[str]) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise RuntimeError("FineTuneElicitor.predict_proba_text called before fit_text")
        data = encode(self.tokenizer_, texts, self.max_length)
        with torch_threads(self.num_threads):
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
