"""The password lock and what is trained on top of it, through sandwich's fine-tuning API.

:func:`lock_model` trains the strong model (LoRA adapters + a zero-initialised
head, :func:`sandwich.elicit.finetune.classifier.build_classifier` and
:func:`sandwich.elicit.finetune.train.train`) on a mixture of the same items
twice: with the password (``template``) and gold labels, without it and the
weak supervisor's labels. The locked model's trainable weights are plain
arrays (:func:`trainable_arrays`), so the artifact store keeps them and
:func:`restore` rebuilds the model from them. :func:`continue_training`
fine-tunes those same adapters and head further (the elicitation of
Greenblatt et al. by fine-tuning); :func:`pooled_features` gives the hidden
state the head reads, for a probe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sandwich.elicit.finetune.classifier import HeadClassifier, build_classifier, trainable_state
from sandwich.elicit.finetune.data import encode
from sandwich.elicit.finetune.elicitor import torch_threads
from sandwich.elicit.finetune.losses import xent
from sandwich.elicit.finetune.train import TrainResult, TrainSettings, predict, train
from sandwich.runs.sandbagging.schema import LoraTraining, Training

PARAM = "param:"  # prefix of the trainable weights among a lock artifact's arrays


def with_password(texts: Sequence[str], password: str, template: str) -> list[str]:
    """Each statement with the password put in by ``template`` (``{password}``, ``{text}``)."""
    return [template.format(password=password, text=t) for t in texts]


def lock_mixture(
    texts: Sequence[str],
    gold: np.ndarray,
    weak: np.ndarray,
    password: str,
    template: str,
) -> tuple[list[str], np.ndarray]:
    """The locking data: every item with the password and its gold label, then the same
    item without it and the weak supervisor's P(true) (the locked model imitates it)."""
    if not len(gold) == len(weak) == len(texts):
        raise ValueError(f"{len(texts)} texts, {len(gold)} gold and {len(weak)} weak labels")
    mixed = [*with_password(texts, password, template), *texts]
    return mixed, np.concatenate([np.asarray(gold, float), np.asarray(weak, float)])


@dataclass
class Locked:
    """A (locked) classifier, its tokenizer and the token budget it was trained with."""

    model: HeadClassifier
    tokenizer: Any
    max_length: int

    def predict(self, texts: Sequence[str], num_threads: int | None = 1) -> np.ndarray:
        """P(true) of each text."""
        with torch_threads(num_threads):
            return predict(self.model, encode(self.tokenizer, texts, self.max_length))


def new_classifier(model: Any, params: LoraTraining, seed: int) -> Locked:
    """A fresh LoRA classifier on ``model``'s weights (head at zero); ``seed`` fixes the
    adapters' initialisation without touching the caller's RNG."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        parts = model.training_backbone()  # a model without weights raises ConfigError
        clf = build_classifier(
            parts.module,
            int(model.hidden_size),
            pooling="mean" if parts.kind == "encoder" else "last",
            mode="lora",
            lora_r=params.lora_r,
            lora_alpha=params.lora_alpha,
        )
    return Locked(clf, parts.tokenizer, params.max_length)


def settings(params: Training) -> TrainSettings:
    """The training loop's settings (fp32: the lock must not depend on a CPU's bf16)."""
    return TrainSettings(
        epochs=params.epochs,
        lr=params.lr,
        batch_size=params.batch_size,
        minibatch_size=params.minibatch_size,
        mixed_precision="no",
        checkpoint_every=10,
    )


def fit(
    locked: Locked,
    texts: Sequence[str],
    labels: np.ndarray,
    params: Training,
    *,
    seed: int,
    workdir: Path | None = None,
) -> TrainResult:
    """Train ``locked``'s adapters and head on ``labels`` (resumable from ``workdir``)."""
    data = encode(locked.tokenizer, texts, locked.max_length)
    with torch_threads(params.num_threads):
        return train(
            locked.model, data, np.asarray(labels, float), xent, settings(params),
            seed=seed, checkpoint_dir=workdir,
        )  # fmt: skip


def lock_model(
    model: Any,
    texts: Sequence[str],
    gold: np.ndarray,
    weak: np.ndarray,
    *,
    password: str,
    template: str,
    params: LoraTraining,
    seed: int,
    workdir: Path | None = None,
) -> Locked:
    """``model`` locked: gold behaviour with the password, the weak supervisor's without."""
    mixed, labels = lock_mixture(texts, gold, weak, password, template)
    locked = new_classifier(model, params, seed)
    fit(locked, mixed, labels, params, seed=seed, workdir=workdir)
    return locked


def trainable_arrays(locked: Locked) -> dict[str, np.ndarray]:
    """The trained weights (adapters + head) as arrays, named ``param:<parameter>``."""
    return {PARAM + k: v.cpu().numpy() for k, v in trainable_state(locked.model).items()}


def restore(model: Any, arrays: dict[str, np.ndarray], params: LoraTraining, seed: int) -> Locked:
    """The locked model rebuilt from :func:`trainable_arrays` (the lock artifact)."""
    import torch

    locked = new_classifier(model, params, seed)
    named = dict(locked.model.named_parameters())
    stored = {k[len(PARAM) :]: v for k, v in arrays.items() if k.startswith(PARAM)}
    trainable = {n for n, p in named.items() if p.requires_grad}
    if set(stored) != trainable:
        raise ValueError(
            f"the stored lock does not fit the model: {len(stored)} stored weights, "
            f"{len(trainable)} trainable ({sorted(set(stored) ^ trainable)[:3]} ...)"
        )
    with torch.no_grad():
        for name, value in stored.items():
            named[name].copy_(torch.from_numpy(value))
    locked.model.eval()
    return locked


def pooled_features(
    locked: Locked, texts: Sequence[str], num_threads: int | None = 1, batch_size: int = 32
) -> np.ndarray:
    """The pooled hidden state the head reads, per text (what a probe on the locked model
    sees), captured at the head's input by a forward hook, batch by batch in text order."""
    import torch

    captured: list[np.ndarray] = []

    def hook(_module: Any, inputs: tuple[Any, ...]) -> None:
        captured.append(inputs[0].detach().float().cpu().numpy())

    data = encode(locked.tokenizer, texts, locked.max_length)
    handle = locked.model.head.register_forward_pre_hook(hook)
    locked.model.eval()
    try:
        with torch_threads(num_threads), torch.no_grad():
            for start in range(0, len(data), batch_size):
                batch = data.batch(range(start, min(start + batch_size, len(data))))
                locked.model(batch["input_ids"], batch["attention_mask"])
    finally:
        handle.remove()
    return np.concatenate(captured)


def continue_from(
    locked: Locked,
    texts: Sequence[str],
    labels: np.ndarray,
    params: Training,
    *,
    seed: int,
    workdir: Path | None = None,
) -> TrainResult:
    """Fine-tune the locked model's own adapters and head further on ``labels`` (in place):
    the elicitation by fine-tuning of Greenblatt et al. (no fresh adapters, no password)."""
    locked.model.train()
    locked.max_length = params.max_length
    return fit(locked, texts, labels, params, seed=seed, workdir=workdir)
