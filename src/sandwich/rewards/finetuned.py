"""A fine-tuned reward model: the strong model with a scalar head, trained on preferences.

``train_reward_model(model, texts_a, texts_b, pref, params, seed)`` fine-tunes
the strong model (LoRA adapters or every weight) with a zero-initialised
scalar head on its pooled last hidden state, on pairs of texts (prompt +
completion) and ``pref`` = P(a preferred) per pair (soft labels; 0.5 is a tie),
with the soft Bradley-Terry loss

    -[p log s(r_a - r_b) + (1 - p) log s(r_b - r_a)],

both texts of a pair in one forward batch. It returns a :class:`TrainedRM`:
``reward(texts)`` scores texts in batches, ``save(dir)`` / ``TrainedRM.load(dir)``
keep the trained weights (the LoRA adapters and the head, or every weight in
``full`` mode) and the params, so a run can store the model as an artifact.

Why the existing fine-tuning loop and not TRL's ``RewardTrainer``
(docs/rewards.md, "Fine-tuned reward models"): a pair is one item of the loop
whose two logits are ``(r_b, r_a)``, so the loop's ``xent`` loss against
``[1 - p, p]`` *is* the soft Bradley-Terry loss (``finetuned_model.py``), and
the reward model gets, unchanged, what the loop already has: the embedded
models' backbones (``Model.training_backbone``), ``minibatch_size: auto``,
the measured mixed-precision choice, bf16 copies of frozen weights,
checkpoints and resume, accelerate's multi-process path. TRL 1.16's
``RewardTrainer`` fits hard pairs only (``-logsigmoid(r_chosen - r_rejected
- margin)``): the soft preferences of a weak or simulated supervisor would need
a custom loss, and it brings its own loop (transformers' Trainer, a
``datasets.Dataset``, an ``AutoModelForSequenceClassification`` head).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import numpy as np
from pydantic import Field, model_validator

from sandwich.config import Strict
from sandwich.errors import ConfigError

FORMAT = 1  # of a saved reward model's directory
PARAMS_FILE = "reward_model.json"
WEIGHTS_FILE = "trainable.safetensors"


class FineTunedRMParams(Strict):
    """How the reward model is trained; each field's default and where it comes from."""

    mode: Literal["lora", "full"] = Field(
        "lora", description="lora (adapters + head; base frozen) or full (every weight)"
    )
    lora_r: int = Field(8, ge=1, description="LoRA rank")
    lora_alpha: int = Field(16, ge=1, description="LoRA scale")
    lora_targets: list[str] | None = Field(
        None,
        description="module names to adapt; null: peft's per-architecture table (q_proj/v_proj "
        "for Llama, Gemma, ...), else every linear layer",
    )
    epochs: int = Field(2, ge=1, description="passes over the pairs")
    lr: Annotated[float, Field(gt=0)] | Literal["auto"] = Field(
        "auto",
        description="auto: the fine-tuning elicitor's rule (openai/weak-to-strong's lr by size: "
        "5e-5 up to ~400M parameters, 1e-5 above; 10x that for lora); or a number",
    )
    batch_size: int = Field(
        16, ge=1, description="pairs per optimizer step (32 texts, the elicitor's 32 items)"
    )
    minibatch_size: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        "auto",
        description="pairs per forward pass (2 texts each; the rest of a step is gradient "
        "accumulation); auto: as many as fit a quarter of the free memory",
    )
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay")
    max_length: int = Field(64, ge=4, description="tokens per text (truncated on the right)")
    pooling: Literal["auto", "last", "mean"] = Field(
        "auto",
        description="what the head reads: the last real token, the mean over tokens, or auto "
        "(last for decoders, as transformers' sequence-classification heads; mean for encoders)",
    )
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = Field(
        "auto",
        description="auto: bf16 on a GPU that supports it, else fp16 on GPU; on CPU bf16 where "
        "measured faster (once per machine), else no",
    )
    gradient_checkpointing: bool = Field(
        False, description="recompute activations in the backward pass (less memory)"
    )
    val_fraction: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="share of the pairs held out to keep the evaluation with the lowest "
        "Bradley-Terry loss on them; 0: train on all and keep the final weights",
    )
    evals_per_epoch: int = Field(2, ge=1, description="evaluations per epoch (val_fraction > 0)")
    checkpoint_every: int = Field(
        10, ge=1, description="optimizer steps between checkpoints (with a checkpoint_dir)"
    )
    num_threads: int | None = Field(
        None, ge=1, description="torch threads while training and scoring (null: torch's)"
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.minibatch_size != "auto" and self.batch_size % self.minibatch_size:
            raise ValueError(
                f"batch_size: {self.batch_size} must be a multiple of minibatch_size "
                f"({self.minibatch_size})"
            )
        return self


@dataclass
class TrainedRM:
    """A trained reward model (module docstring). ``reward`` scores texts; ``save``/``load``."""

    module: Any  # finetuned_model.RewardHead
    tokenizer: Any
    params: FineTunedRMParams
    base: str  # the model it was trained from: a registered name, a directory or a hub id
    fingerprint: str  # of the base weights (load checks it)
    seed: int
    resolved: dict[str, Any]  # lr, pooling, minibatch_size, mixed_precision as used
    train_summary: dict[str, Any] = field(default_factory=dict)  # steps, losses, best_step

    def reward(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """One reward per text (float64); only differences between rewards mean anything."""
        from sandwich.elicit.finetune.data import encode
        from sandwich.rewards.finetuned_model import rewards

        texts = _texts(texts, "texts")
        if not texts:
            return np.zeros(0, dtype=np.float64)
        data = encode(self.tokenizer, texts, self.params.max_length)
        with _threads(self.params.num_threads):
            return rewards(self.module, data, batch_size, self.resolved["mixed_precision"])

    def prob(self, texts_a: Sequence[str], texts_b: Sequence[str]) -> np.ndarray:
        """P(a preferred) = sigmoid(r_a - r_b) per pair."""
        texts_a, texts_b = _texts(texts_a, "texts_a"), _texts(texts_b, "texts_b")
        if len(texts_a) != len(texts_b):
            raise ValueError(f"{len(texts_a)} texts_a for {len(texts_b)} texts_b")
        r = self.reward([*texts_a, *texts_b])
        d = r[: len(texts_a)] - r[len(texts_a) :]
        return np.asarray(1.0 / (1.0 + np.exp(-d)), dtype=np.float64)

    def save(self, directory: Path | str) -> Path:
        """Write the trainable weights and the params to ``directory`` (created).

        The trainable weights are the LoRA adapters and the head in ``lora`` mode,
        every weight in ``full`` mode; the frozen base weights come from ``base``
        on load (its fingerprint is kept and checked).
        """
        from safetensors.torch import save_file

        from sandwich.elicit.finetune.classifier import trainable_state

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        state = {k: v.contiguous() for k, v in trainable_state(self.module).items()}
        save_file(state, str(out / WEIGHTS_FILE))
        meta = {
            "format": FORMAT,
            "base": self.base,
            "fingerprint": self.fingerprint,
            "seed": self.seed,
            "params": self.params.model_dump(mode="json"),
            "resolved": self.resolved,
            "train": self.train_summary,
        }
        (out / PARAMS_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        return out

    @classmethod
    def load(
        cls, directory: Path | str, model: Any | None = None, store: Any | None = None
    ) -> TrainedRM:
        """The reward model saved in ``directory``. ``model`` (a name or a loaded ``Model``)
        overrides the saved base reference (e.g. a directory that moved); its weights must
        have the saved fingerprint. ``store``: where embedded models are converted."""
        from safetensors.torch import load_file

        src = Path(directory)
        meta_path = src / PARAMS_FILE
        if not meta_path.is_file() or not (src / WEIGHTS_FILE).is_file():
            raise ConfigError(
                f"{src}: not a saved reward model (needs {PARAMS_FILE} and {WEIGHTS_FILE})"
            )
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != FORMAT:
            raise ConfigError(f"{meta_path}: format {meta.get('format')!r}, expected {FORMAT}")
        params = FineTunedRMParams.model_validate(meta["params"])
        base = _load_base(model if model is not None else meta["base"], store)
        if base.fingerprint != meta["fingerprint"]:
            raise ConfigError(
                f"{src}: trained on {meta['base']!r} with weights {meta['fingerprint'][:12]}, "
                f"but {base.name!r} has weights {base.fingerprint[:12]}"
            )
        resolved = meta["resolved"]
        module, tokenizer, _ = _build(base, params, int(meta["seed"]), resolved["pooling"])
        state = load_file(str(src / WEIGHTS_FILE))
        _load_state(module, state, src)
        module.eval()
        return cls(
            module, tokenizer, params, str(meta["base"]), base.fingerprint, int(meta["seed"]),
            resolved, meta.get("train", {}),
        )  # fmt: skip


def train_reward_model(
    model: Any,
    texts_a: Sequence[str],
    texts_b: Sequence[str],
    pref: np.ndarray | Sequence[float],
    params: FineTunedRMParams | None = None,
    seed: int = 0,
    *,
    store: Any | None = None,
    checkpoint_dir: Path | None = None,
    groups: Sequence[str] | None = None,
    progress: bool = False,
) -> TrainedRM:
    """Fine-tune ``model`` (a registered name, local directory or hub id, or a loaded
    ``Model``) with a scalar head on pairs ``(texts_a[i], texts_b[i])`` labelled
    ``pref[i]`` = P(a preferred) in [0, 1] (module docstring).

    ``store``: where embedded models are converted (default ``$SANDWICH_HOME``);
    ``checkpoint_dir``: where the loop checkpoints every ``checkpoint_every``
    steps, so a killed training started again with it resumes there;
    ``groups``: one label per pair (e.g. the prompt's id or group); with
    ``val_fraction > 0`` whole groups are held out, so no prompt is on both sides.
    """
    from sandwich.elicit.finetune.classifier import count_params
    from sandwich.elicit.finetune.elicitor import reference_lr
    from sandwich.elicit.finetune.losses import xent
    from sandwich.elicit.finetune.train import train
    from sandwich.rewards.finetuned_model import encode_pairs, pair_minibatch

    params = params if params is not None else FineTunedRMParams()
    texts_a, texts_b = _texts(texts_a, "texts_a"), _texts(texts_b, "texts_b")
    p = check_pairs(texts_a, texts_b, pref)
    if groups is not None and len(groups) != len(p):
        raise ValueError(f"groups must have one entry per pair: got {len(groups)} for {len(p)}")
    base = _load_base(model, store)
    with _threads(params.num_threads):
        module, tokenizer, pooling = _build(base, params, seed, params.pooling)
        n_params = count_params(module)[1]
        lr = params.lr if params.lr != "auto" else _auto_lr(params.mode, n_params, reference_lr)
        mixed = _mixed_precision(params, int(base.hidden_size))
        data = encode_pairs(tokenizer, texts_a, texts_b, params.max_length)
        fit_rows, validation = _holdout(data, p, params, seed, groups)
        fit = data.subset(fit_rows)
        settings = pair_minibatch(_settings(params, float(lr), mixed), module, fit)
        result = train(
            module,
            fit,
            p[fit_rows],
            xent,  # on pair logits (r_b, r_a): the soft Bradley-Terry loss (finetuned_model.py)
            settings,
            seed=seed,
            checkpoint_dir=checkpoint_dir,
            validation=validation,
            progress=progress,
            desc=f"reward model {base.name} ({params.mode})",
        )
    resolved = {
        "lr": float(lr),
        "pooling": pooling,
        "minibatch_size": result.minibatch_size,
        "mixed_precision": mixed,
    }
    summary = {
        "steps": result.steps,
        "losses": [round(x, 6) for x in result.losses],
        "best_step": result.best_step,
        "resumed_from": result.resumed_from,
        "val_scores": result.val_scores,
        "n_pairs": len(p),
        "n_fit": len(fit_rows),
    }
    return TrainedRM(
        module, tokenizer, params, _reference(model), base.fingerprint, seed, resolved, summary
    )


def check_pairs(
    texts_a: Sequence[str], texts_b: Sequence[str], pref: np.ndarray | Sequence[float]
) -> np.ndarray:
    """``pref`` as float64 after checking the pairs: as many texts on each side as
    preferences, at least one pair, every preference finite and in [0, 1]."""
    p = np.asarray(pref, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"pref must be one P(a preferred) per pair (1-D), got shape {p.shape}")
    if not (len(texts_a) == len(texts_b) == len(p)):
        raise ValueError(
            f"texts_a, texts_b and pref must have one entry per pair: got {len(texts_a)}, "
            f"{len(texts_b)} and {len(p)}"
        )
    if not len(p):
        raise ValueError("no pairs to train the reward model on")
    bad = np.flatnonzero(~np.isfinite(p) | (p < 0.0) | (p > 1.0))
    if len(bad):
        i = int(bad[0])
        raise ValueError(
            f"pref[{i}] = {float(p[i])!r}: a preference is P(a preferred), in [0, 1] "
            f"({len(bad)} bad value(s))"
        )
    return p


def _texts(texts: Sequence[str], what: str) -> list[str]:
    if isinstance(texts, str):
        raise ValueError(f"{what} must be a sequence of texts, got one string")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise ValueError(f"{what}[{i}] must be a text, got {type(t).__name__}")
    return out


def _reference(model: Any) -> str:
    """What ``load`` passes to ``load_model``: the name given, or a loaded model's directory
    (a local model's name is its directory's base name) or name."""
    if isinstance(model, str):
        return model
    if _is_registered(model.name):
        return str(model.name)
    try:
        return str(model.directory)
    except (AttributeError, RuntimeError):  # no directory (not a transformers model)
        return str(model.name)


def _is_registered(name: str) -> bool:
    from sandwich.models import MODELS

    return name in MODELS


def _load_base(model: Any, store: Any | None) -> Any:
    from sandwich.models import load_model

    if isinstance(model, str):
        return load_model(model, store=store)
    return model


def _build(base: Any, params: FineTunedRMParams, seed: int, pooling: str) -> tuple[Any, Any, str]:
    """A fresh reward model on ``base``'s weights, its tokenizer and the pooling used;
    ``seed`` fixes the initialisation (LoRA's adapters) without touching the caller's RNG."""
    import torch

    from sandwich.elicit.finetune.classifier import build_classifier
    from sandwich.rewards.finetuned_model import RewardHead

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        parts = base.training_backbone()  # a model without weights raises ConfigError
        if pooling == "auto":
            pooling = "mean" if parts.kind == "encoder" else "last"
        clf = build_classifier(
            parts.module,
            int(base.hidden_size),
            pooling=pooling,  # type: ignore[arg-type]
            mode=params.mode,
            lora_r=params.lora_r,
            lora_alpha=params.lora_alpha,
            lora_target_modules=params.lora_targets,
            gradient_checkpointing=params.gradient_checkpointing,
        )
        # the same backbone (adapters, frozen weights) under a scalar head
        module = RewardHead(clf.backbone, int(base.hidden_size), clf.pooling)
    return module, parts.tokenizer, pooling


def _load_state(module: Any, state: dict[str, Any], where: Path) -> None:
    import torch

    named = dict(module.named_parameters())
    trainable = {n for n, p in named.items() if p.requires_grad}
    if set(state) != trainable:
        missing, extra = sorted(trainable - set(state)), sorted(set(state) - trainable)
        raise ConfigError(
            f"{where}: saved weights do not fit the model (missing {missing[:3]}, "
            f"unexpected {extra[:3]})"
        )
    shapes = [n for n, v in state.items() if tuple(v.shape) != tuple(named[n].shape)]
    if shapes:
        n = shapes[0]
        raise ConfigError(
            f"{where}: saved weight {n} has shape {tuple(state[n].shape)}, the model's "
            f"{tuple(named[n].shape)} (params changed?)"
        )
    with torch.no_grad():
        for name, value in state.items():
            named[name].copy_(value)


def _auto_lr(mode: str, n_params: int, reference: Any) -> float:
    """The fine-tuning elicitor's rule: the reference lr by size, 10x for LoRA."""
    lr = float(reference(n_params))
    return lr * 10 if mode == "lora" else lr


def _mixed_precision(params: FineTunedRMParams, hidden_size: int) -> Literal["no", "bf16", "fp16"]:
    from sandwich.elicit.finetune.elicitor import default_mixed_precision

    mp = params.mixed_precision
    return default_mixed_precision(hidden_size) if mp == "auto" else mp


def _settings(params: FineTunedRMParams, lr: float, mixed: Any) -> Any:
    from sandwich.elicit.finetune.train import TrainSettings

    return TrainSettings(
        epochs=params.epochs,
        lr=lr,
        batch_size=params.batch_size,
        minibatch_size=params.minibatch_size,
        weight_decay=params.weight_decay,
        mixed_precision=mixed,
        checkpoint_every=params.checkpoint_every,
        evals_per_epoch=params.evals_per_epoch,
    )


def _holdout(
    data: Any, p: np.ndarray, params: FineTunedRMParams, seed: int, groups: Sequence[str] | None
) -> tuple[Any, Any]:
    """The pairs to train on, and the held-out pairs that select the weights (their soft
    Bradley-Terry loss against ``p``); all pairs and no selection with ``val_fraction: 0``.
    With ``groups``, ``val_fraction`` of the groups (whole) are held out."""
    import functools

    from sandwich.elicit.finetune.train import Validation
    from sandwich.elicit.probe import holdout_split, soft_log_loss

    rows = np.arange(len(p))
    if params.val_fraction == 0:
        return rows, None
    if groups is None:
        fit_rows, val_rows = holdout_split(len(p), params.val_fraction, seed)
    else:
        names, index = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
        _, val_groups = holdout_split(len(names), params.val_fraction, seed)
        held = np.isin(index, val_groups)
        fit_rows, val_rows = np.flatnonzero(~held), np.flatnonzero(held)
    if not len(val_rows) or not len(fit_rows):
        return rows, None
    score = functools.partial(soft_log_loss, p[val_rows])
    return fit_rows, Validation(data.subset(val_rows), score)


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    from sandwich.elicit.finetune.elicitor import torch_threads

    with torch_threads(n):
        yield


def bradley_terry_loss(r_a: np.ndarray, r_b: np.ndarray, pref: np.ndarray) -> float:
    """Mean soft Bradley-Terry loss of rewards ``r_a``, ``r_b`` against ``pref`` (for reports
    and tests): ``-[p log s(d) + (1 - p) log s(-d)]``, ``d = r_a - r_b``."""
    d = np.asarray(r_a, dtype=np.float64) - np.asarray(r_b, dtype=np.float64)
    p = np.asarray(pref, dtype=np.float64)
    log_s = -np.logaddexp(0.0, -d)
    log_s_neg = -np.logaddexp(0.0, d)
    return float(-np.mean(p * log_s + (1 - p) * log_s_neg)) if len(d) else math.nan
