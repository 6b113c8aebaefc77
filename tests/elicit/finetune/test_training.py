"""The training loop on tiny random models: what trains, what stays, resume, mixed precision."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch

from sandwich.elicit.finetune.classifier import build_classifier, trainable_state
from sandwich.elicit.finetune.data import encode
from sandwich.elicit.finetune.elicitor import FineTuneElicitor
from sandwich.elicit.finetune.losses import logconf, xent
from sandwich.elicit.finetune.train import TrainSettings, predict, train
from sandwich.errors import ConfigError
from sandwich.models import load_model

from .conftest import separable_task


def classifier(model_dir: Path, mode: str, seed: int = 0, **kw):  # type: ignore[no-untyped-def]
    model = load_model(str(model_dir))
    parts = model.training_backbone()  # type: ignore[attr-defined]
    torch.manual_seed(seed)
    pooling = "mean" if parts.kind == "encoder" else "last"
    clf = build_classifier(parts.module, model.hidden_size, pooling=pooling, mode=mode, **kw)
    return clf, parts.tokenizer


def all_state(m: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in m.named_parameters()}


@pytest.mark.parametrize(
    ("which", "mode", "kw"),
    [
        ("llama", "lora", {}),
        ("llama", "full", {}),
        ("bert", "top", {"top_k": 1}),
        ("bert", "lora", {}),
    ],
)
def test_training_changes_the_trainable_parameters_and_only_them(
    which: str, mode: str, kw: dict[str, int], llama_dir: Path, bert_dir: Path
) -> None:
    clf, tok = classifier(llama_dir if which == "llama" else bert_dir, mode, **kw)
    texts, y = separable_task(48)
    before = all_state(clf)
    trainable = {n for n, p in clf.named_parameters() if p.requires_grad}
    assert "head.weight" in trainable
    if mode == "lora":  # the base weights are frozen; only adapters and the head train
        assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)
    if mode == "top":  # only the last block of 2 and the head
        assert all(n.startswith(("head.", "backbone.encoder.layer.1.")) for n in trainable)
    settings = TrainSettings(epochs=1, lr=1e-2, batch_size=8, minibatch_size=4)
    train(clf, encode(tok, texts, 16), y, xent, settings, seed=0)
    after = all_state(clf)
    for name in before:
        changed = not torch.equal(before[name], after[name])
        assert changed == (name in trainable), (name, changed)
    assert before["head.weight"].abs().sum() == 0  # the head starts at zero


def test_training_reduces_the_loss_on_a_separable_task(llama_dir: Path) -> None:
    clf, tok = classifier(llama_dir, "full")
    texts, y = separable_task(160, seed=1)
    data = encode(tok, texts, 16)
    settings = TrainSettings(epochs=3, lr=3e-3, batch_size=16, minibatch_size=8)
    p0 = predict(clf, data)
    assert np.allclose(p0, 0.5)  # zero head: every item starts at P(true) = 1/2
    result = train(clf, data, y, xent, settings, seed=0)
    assert np.mean(result.losses[-5:]) < 0.5 * np.mean(result.losses[:5])
    test_texts, y_test = separable_task(100, seed=2)
    p = predict(clf, encode(tok, test_texts, 16))
    assert np.mean((p >= 0.5) == y_test) > 0.9


class Crash(Exception):
    pass


def crashing(loss, after_calls: int):  # type: ignore[no-untyped-def]
    calls = {"n": 0}

    @functools.wraps(loss)  # the same signature: the trainer passes the batch to logconf
    def fn(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > after_calls:
            raise Crash
        return loss(*args, **kwargs)

    return fn


@pytest.mark.parametrize(("which", "mode"), [("llama", "lora"), ("bert", "full")])
def test_a_resumed_run_equals_an_uninterrupted_one(
    which: str, mode: str, llama_dir: Path, bert_dir: Path, tmp_path: Path
) -> None:
    model_dir = llama_dir if which == "llama" else bert_dir  # BERT: dropout is on
    texts, y = separable_task(40)
    loss = functools.partial(logconf, aux_weight=0.5, warmup_frac=0.5)
    settings = TrainSettings(epochs=2, lr=1e-2, batch_size=8, minibatch_size=4, checkpoint_every=3)

    clf, tok = classifier(model_dir, mode)
    data = encode(tok, texts, 16)
    whole = train(clf, data, y, loss, settings, seed=3)
    expected = trainable_state(clf)

    clf, tok = classifier(model_dir, mode)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(Crash):  # killed in step 7 of 10 (minibatch 13 of 20)
        train(clf, data, y, crashing(loss, 12), settings, seed=3, checkpoint_dir=ckpt)
    assert (ckpt / "state.pt").is_file()

    clf, tok = classifier(model_dir, mode)  # a fresh process would rebuild the model
    resumed = train(clf, data, y, loss, settings, seed=3, checkpoint_dir=ckpt)
    assert resumed.resumed_from == 6  # the last checkpoint before the crash
    assert resumed.steps == whole.steps == 10
    got = trainable_state(clf)
    assert set(got) == set(expected)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=0, atol=1e-6, msg=name)
    assert resumed.losses == pytest.approx(whole.losses, abs=1e-6)


def test_bf16_mixed_precision_and_gradient_checkpointing_train(llama_dir: Path) -> None:
    clf, tok = classifier(llama_dir, "full", gradient_checkpointing=True)
    assert clf.backbone.is_gradient_checkpointing
    texts, y = separable_task(96, seed=4)
    settings = TrainSettings(
        epochs=3, lr=3e-3, batch_size=16, minibatch_size=8, mixed_precision="bf16"
    )
    result = train(clf, encode(tok, texts, 16), y, xent, settings, seed=0)
    assert np.mean(result.losses[-3:]) < np.mean(result.losses[:3])
    assert all(p.dtype == torch.float32 for p in clf.parameters())  # master weights stay fp32


def test_settings_reject_inconsistent_batch_sizes() -> None:
    # the training settings come from the elicitor's Params, which check them once
    with pytest.raises(ConfigError, match="multiple of minibatch_size"):
        FineTuneElicitor(batch_size=10, minibatch_size=4)


@pytest.mark.parametrize("loss_name", ["logconf", "xent"])
def test_gradient_accumulation_does_not_change_the_loss(loss_name: str, llama_dir: Path) -> None:
    # one optimizer step over 8 items must not depend on how they are split into forward
    # passes: logconf's hardening threshold is taken over the whole batch of 8, as in the
    # reference, not over each minibatch of 4 (which it was before)
    texts, y = separable_task(32, seed=6)
    y = np.where(np.arange(32) % 3 == 0, 1.0 - y, y)  # noisy labels: minibatch shares vary
    loss = (
        functools.partial(logconf, aux_weight=0.75, warmup_frac=0.0) if loss_name == "logconf"
        else xent
    )  # fmt: skip
    states = []
    for minibatch in (8, 4, 2):
        clf, tok = classifier(llama_dir, "full")
        settings = TrainSettings(epochs=1, lr=1e-2, batch_size=8, minibatch_size=minibatch)
        train(clf, encode(tok, texts, 16), y, loss, settings, seed=0)
        states.append(trainable_state(clf))
    for other in states[1:]:
        for name, value in states[0].items():
            torch.testing.assert_close(other[name], value, rtol=0, atol=2e-5, msg=name)


def test_every_process_thresholds_over_the_same_whole_batch() -> None:
    # accelerate deals minibatches to processes in turn (BatchSamplerShard: minibatch k goes
    # to process k % N), so one optimizer step is a contiguous slice of the epoch's order
    from types import SimpleNamespace

    from sandwich.elicit.finetune.train import _step_rows

    order = list(range(100, 140))
    settings = TrainSettings(batch_size=8, minibatch_size=2)  # 2 processes x 2 accumulated
    acc = SimpleNamespace(gradient_accumulation_steps=2, num_processes=2)
    assert _step_rows(order, 0, settings, acc) == (order[0:8], 0)
    assert _step_rows(order, 2, settings, acc) == (order[8:16], 4)  # the process's 3rd minibatch
    one = SimpleNamespace(gradient_accumulation_steps=4, num_processes=1)
    assert _step_rows(order, 4, settings, one) == (order[8:16], 4)
    assert _step_rows(order, 16, settings, one) == (order[32:40], 16)
