"""The fine-tuned reward model on a tiny random Llama: it learns, it keeps soft labels soft,
a tie teaches nothing, it saves and loads exactly, and bad input fails clearly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from sandwich.elicit.finetune.classifier import trainable_state
from sandwich.elicit.finetune.losses import xent
from sandwich.elicit.finetune.train import predict
from sandwich.errors import ConfigError
from sandwich.models import load_model
from sandwich.rewards.finetuned import (
    PARAMS_FILE,
    FineTunedRMParams,
    TrainedRM,
    bradley_terry_loss,
    train_reward_model,
)
from sandwich.rewards.finetuned_model import encode_pairs, pair_minibatch

from .conftest import build_llama, pairwise_accuracy, planted_pairs

# the tiny model learns in a few epochs at these rates (full: the elicitor tests' 3e-3)
FULL = FineTunedRMParams(
    mode="full", lr=3e-3, epochs=3, batch_size=16, max_length=16, mixed_precision="no"
)
LORA = FULL.model_copy(update={"mode": "lora", "lr": 1e-2})
MODES = {"full": FULL, "lora": LORA}


@pytest.fixture(scope="module")
def pairs() -> tuple[list[str], list[str], np.ndarray]:
    return planted_pairs(192, seed=1)


@pytest.fixture(scope="module")
def held_out() -> tuple[list[str], list[str], np.ndarray]:
    return planted_pairs(100, seed=2)  # other draws: new orders, positions, fillers


def test_pair_logits_under_xent_are_the_soft_bradley_terry_loss() -> None:
    """The loop's xent on logits (r_b, r_a) against [1 - p, p] equals
    -[p log s(r_a - r_b) + (1 - p) log s(r_b - r_a)]; swapping a and b with p -> 1 - p
    gives the same loss."""
    rng = np.random.default_rng(0)
    r_a, r_b = rng.normal(size=50) * 3, rng.normal(size=50) * 3
    p = rng.uniform(size=50)
    logits = torch.tensor(np.stack([r_b, r_a], axis=-1))
    got = float(xent(logits, torch.tensor(p)))
    d = r_a - r_b
    by_hand = -np.mean(p * np.log(1 / (1 + np.exp(-d))) + (1 - p) * np.log(1 / (1 + np.exp(d))))
    assert got == pytest.approx(by_hand, rel=1e-6)
    assert bradley_terry_loss(r_a, r_b, p) == pytest.approx(by_hand, rel=1e-12)
    assert bradley_terry_loss(r_b, r_a, 1 - p) == pytest.approx(by_hand, rel=1e-12)


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_the_loss_goes_down_and_a_planted_rule_is_learned(
    mode: str, llama_dir: Path, pairs: tuple, held_out: tuple
) -> None:
    """Texts with "good" preferred over texts with "bad": > 90% pairwise accuracy on
    held-out pairs; the training loss falls to under half its start."""
    a, b, p = pairs
    rm = train_reward_model(str(llama_dir), a, b, p, MODES[mode], seed=0)
    losses = rm.train_summary["losses"]
    assert losses[0] == pytest.approx(np.log(2), abs=1e-6)  # zero head: every pair at 1/2
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3])
    ta, tb, tp = held_out
    assert pairwise_accuracy(rm.prob(ta, tb), tp) > 0.9
    # rewards: texts with "good" above texts with "bad"
    r = rm.reward(["the answer to question q1 is red good", "the answer to question q1 is red bad"])
    assert r[0] > r[1]
    assert rm.resolved == {
        "lr": MODES[mode].lr, "pooling": "last", "minibatch_size": 16, "mixed_precision": "no",
    }  # fmt: skip


def test_what_each_mode_trains(llama_dir: Path, pairs: tuple) -> None:
    """lora: the adapters and the scalar head only; full: every weight and the head."""
    a, b, p = pairs
    lora = train_reward_model(str(llama_dir), a[:32], b[:32], p[:32], LORA, seed=0)
    names = set(trainable_state(lora.module))
    assert "head.weight" in names and all("lora_" in n or n == "head.weight" for n in names)
    assert lora.module.head.weight.shape == (1, 32) and lora.module.head.bias is None
    full = train_reward_model(str(llama_dir), a[:32], b[:32], p[:32], FULL, seed=0)
    assert set(trainable_state(full.module)) == {n for n, _ in full.module.named_parameters()}


def test_soft_labels_are_fitted_as_probabilities(
    llama_dir: Path, pairs: tuple, held_out: tuple
) -> None:
    """P(good preferred) = 0.8 in training gives P(a preferred) near 0.8 on held-out pairs, not
    near 1 as the same pairs with hard labels do: the loss is soft Bradley-Terry."""
    a, b, p = pairs
    ta, tb, tp = held_out
    params = FULL.model_copy(update={"epochs": 6})
    soft = train_reward_model(str(llama_dir), a, b, np.where(p > 0.5, 0.8, 0.2), params, seed=0)
    q = soft.prob(ta, tb)
    p_good = np.where(tp > 0.5, q, 1 - q)
    assert 0.7 < p_good.mean() < 0.9
    hard = train_reward_model(str(llama_dir), a, b, p, params, seed=0)
    q = hard.prob(ta, tb)
    assert np.where(tp > 0.5, q, 1 - q).mean() > 0.95


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_ties_give_no_gradient_and_no_preference(
    mode: str, llama_dir: Path, pairs: tuple, held_out: tuple
) -> None:
    """pref = 0.5 everywhere: from the zero head every gradient is zero (the loss is at its
    minimum, r_a = r_b), so training leaves every weight as it was and P(a preferred) = 1/2."""
    a, b, p = pairs
    params = MODES[mode]
    ties = np.full(len(p), 0.5)
    rm = train_reward_model(str(llama_dir), a, b, ties, params, seed=0)
    fresh = train_reward_model(str(llama_dir), a[:1], b[:1], ties[:1], params, seed=0)
    # the one-pair "training" also moved nothing: compare with the untouched initial weights
    trained = trainable_state(rm.module)
    initial = trainable_state(fresh.module)
    assert trained.keys() == initial.keys()
    assert all(torch.equal(trained[k], initial[k]) for k in trained)
    ta, tb, _ = held_out
    assert np.array_equal(rm.prob(ta, tb), np.full(len(ta), 0.5))
    assert rm.train_summary["losses"] == [pytest.approx(np.log(2), abs=1e-6)] * len(
        rm.train_summary["losses"]
    )


def test_both_texts_of_a_pair_go_through_one_forward_batch(llama_dir: Path, pairs: tuple) -> None:
    """The training path (pair batches: a texts then b texts, padded together) gives the same
    P(a preferred) as scoring every text on its own batch; and training is deterministic."""
    a, b, p = pairs
    rm = train_reward_model(str(llama_dir), a[:64], b[:64], p[:64], FULL, seed=3)
    data = encode_pairs(rm.tokenizer, a[:64], b[:64], FULL.max_length)
    batch = data.batch([0, 1, 2])
    assert batch["input_ids"].shape[0] == 6  # 3 pairs -> 6 rows in one pass
    np.testing.assert_allclose(predict(rm.module, data), rm.prob(a[:64], b[:64]), atol=1e-6)
    again = train_reward_model(str(llama_dir), a[:64], b[:64], p[:64], FULL, seed=3)
    assert np.array_equal(again.reward(a[:64]), rm.reward(a[:64]))


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_save_then_load_gives_identical_rewards(
    mode: str, llama_dir: Path, pairs: tuple, held_out: tuple, tmp_path: Path
) -> None:
    a, b, p = pairs
    rm = train_reward_model(str(llama_dir), a[:64], b[:64], p[:64], MODES[mode], seed=0)
    out = rm.save(tmp_path / "rm")
    back = TrainedRM.load(out)
    ta, tb, _ = held_out
    texts = ta + tb
    assert np.array_equal(back.reward(texts), rm.reward(texts))
    assert back.params == rm.params and back.resolved == rm.resolved and back.seed == 0
    assert back.base == str(llama_dir) and back.train_summary["steps"] == 12
    # a loaded Model works the same as its name
    same = TrainedRM.load(out, model=load_model(str(llama_dir)))
    assert np.array_equal(same.reward(texts[:10]), rm.reward(texts[:10]))


def test_load_refuses_other_weights_and_broken_directories(
    llama_dir: Path, pairs: tuple, tmp_path: Path
) -> None:
    a, b, p = pairs
    out = train_reward_model(str(llama_dir), a[:16], b[:16], p[:16], LORA, seed=0).save(
        tmp_path / "rm"
    )
    other = build_llama(tmp_path / "other", seed=1)  # same architecture, other weights
    with pytest.raises(ConfigError, match=r"trained on .* with weights"):
        TrainedRM.load(out, model=str(other))
    with pytest.raises(ConfigError, match="not a saved reward model"):
        TrainedRM.load(tmp_path / "nothing")
    meta = json.loads((out / PARAMS_FILE).read_text())
    meta["params"]["lora_r"] = 4  # adapters of another shape: the weights do not fit
    (out / PARAMS_FILE).write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="has shape"):
        TrainedRM.load(out)


def test_selection_on_held_out_pairs(llama_dir: Path, pairs: tuple) -> None:
    """val_fraction > 0 trains on the rest and keeps the evaluation with the lowest
    Bradley-Terry loss on the held-out pairs."""
    a, b, p = pairs
    params = FULL.model_copy(update={"val_fraction": 0.25, "evals_per_epoch": 2})
    rm = train_reward_model(str(llama_dir), a, b, p, params, seed=0)
    s = rm.train_summary
    assert s["n_fit"] == 144 and s["n_pairs"] == 192
    scores = dict(s["val_scores"])
    assert len(scores) == 6 and s["best_step"] == min(scores, key=scores.__getitem__)


def test_selection_holds_out_whole_groups(llama_dir: Path, pairs: tuple) -> None:
    """With groups (e.g. each pair's prompt), whole groups are held out: 2 of 10 groups of
    19-20 pairs (38-40 pairs), not 25% of the pairs (48)."""
    a, b, p = pairs
    groups = [f"g{i % 10}" for i in range(len(p))]  # g0, g1: 20 pairs; the others: 19
    params = FULL.model_copy(update={"val_fraction": 0.25, "epochs": 1})
    rm = train_reward_model(str(llama_dir), a, b, p, params, seed=0, groups=groups)
    assert 192 - rm.train_summary["n_fit"] in (38, 39, 40)
    with pytest.raises(ValueError, match="groups must have one entry per pair: got 3 for 192"):
        train_reward_model(str(llama_dir), a, b, p, params, groups=["x"] * 3)


def test_auto_minibatch_counts_a_pair_as_two_texts(
    llama_dir: Path, pairs: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With memory for exactly 8 texts of the longest length, auto takes 4 pairs per pass."""
    from sandwich.elicit.finetune import minibatch
    from sandwich.elicit.finetune.train import TrainSettings
    from sandwich.rewards import finetuned_model

    a, b, p = pairs
    rm = train_reward_model(str(llama_dir), a[:2], b[:2], p[:2], FULL, seed=0)
    data = encode_pairs(rm.tokenizer, a, b, 16)
    longest = data.longest_text()
    config = rm.module.backbone.config
    per_text = minibatch.activation_bytes_per_token(config, longest) * longest
    # the budget is SHARE of the available memory
    monkeypatch.setattr(
        finetuned_model, "available_memory", lambda: int(8 * per_text / minibatch.SHARE) + 1
    )
    settings = TrainSettings(batch_size=16, minibatch_size="auto")
    assert pair_minibatch(settings, rm.module, data).minibatch_size == 4


def test_bad_input_raises_clearly(llama_dir: Path) -> None:
    m = str(llama_dir)
    a, b = ["the answer is good"] * 3, ["the answer is bad"] * 3
    with pytest.raises(ValueError, match="got 3, 2 and 3"):
        train_reward_model(m, a, b[:2], np.ones(3), LORA)
    with pytest.raises(ValueError, match="got 3, 3 and 2"):
        train_reward_model(m, a, b, np.ones(2), LORA)
    with pytest.raises(ValueError, match=r"pref\[1\] = 1.5: .* in \[0, 1\] \(2 bad"):
        train_reward_model(m, a, b, [1.0, 1.5, -0.1], LORA)
    with pytest.raises(ValueError, match=r"pref\[2\] = nan"):
        train_reward_model(m, a, b, [1.0, 0.0, float("nan")], LORA)
    with pytest.raises(ValueError, match=r"1-D"):
        train_reward_model(m, a, b, np.ones((3, 1)), LORA)
    with pytest.raises(ValueError, match="no pairs"):
        train_reward_model(m, [], [], [], LORA)
    with pytest.raises(ValueError, match=r"texts_b\[1\] must be a text, got int"):
        train_reward_model(m, a, ["x", 2, "y"], np.ones(3), LORA)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="texts_a must be a sequence of texts"):
        train_reward_model(m, "the answer", "bad", [1.0], LORA)
    with pytest.raises(ConfigError, match="has none"):  # the fake backend has no weights
        train_reward_model("fake-strong", a, b, np.ones(3), LORA)
    with pytest.raises(ValidationError, match="multiple of minibatch_size"):
        FineTunedRMParams(batch_size=16, minibatch_size=6)
    with pytest.raises(ValidationError, match="mode"):
        FineTunedRMParams(mode="top")  # type: ignore[arg-type]


class Crash(Exception):
    pass


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_a_killed_training_resumes_from_its_checkpoint(
    mode: str, llama_dir: Path, pairs: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a checkpoint_dir, a training killed in step 7 of 10 and started again resumes at
    the step-6 checkpoint and ends with the rewards of an uninterrupted run."""
    from sandwich.elicit.finetune import losses

    a, b, p = (x[:40] for x in pairs)
    params = MODES[mode].model_copy(
        update={"epochs": 2, "batch_size": 8, "minibatch_size": 4, "checkpoint_every": 3}
    )
    whole = train_reward_model(str(llama_dir), a, b, p, params, seed=3)
    calls = {"n": 0}

    def crashing(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > 12:  # minibatch 13 of 20: optimizer step 7
            raise Crash
        return xent(*args, **kwargs)

    ckpt = tmp_path / "ckpt"
    with monkeypatch.context() as m:
        m.setattr(losses, "xent", crashing)
        with pytest.raises(Crash):
            train_reward_model(str(llama_dir), a, b, p, params, seed=3, checkpoint_dir=ckpt)
    assert (ckpt / "state.pt").is_file()
    resumed = train_reward_model(str(llama_dir), a, b, p, params, seed=3, checkpoint_dir=ckpt)
    assert resumed.train_summary["resumed_from"] == 6  # the last checkpoint before the crash
    assert resumed.train_summary["steps"] == whole.train_summary["steps"] == 10
    np.testing.assert_allclose(resumed.reward(a + b), whole.reward(a + b), rtol=0, atol=1e-5)


def test_bf16_autocast_trains_and_scores(llama_dir: Path, pairs: tuple, held_out: tuple) -> None:
    """mixed_precision bf16 (the loop's autocast with bf16 copies of the frozen weights)
    learns the planted rule too, and the master weights stay fp32."""
    a, b, p = pairs
    rm = train_reward_model(
        str(llama_dir), a, b, p, LORA.model_copy(update={"mixed_precision": "bf16"}), seed=0
    )
    assert rm.resolved["mixed_precision"] == "bf16"
    assert all(t.dtype == torch.float32 for t in rm.module.parameters())
    ta, tb, tp = held_out
    assert pairwise_accuracy(rm.prob(ta, tb), tp) > 0.9
