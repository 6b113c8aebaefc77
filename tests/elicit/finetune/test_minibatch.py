"""``minibatch_size: auto``: a step's items in fewer, larger forward passes, learning the same."""

from __future__ import annotations

import functools
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from sandwich.elicit.finetune import minibatch
from sandwich.elicit.finetune.classifier import trainable_state
from sandwich.elicit.finetune.data import encode
from sandwich.elicit.finetune.elicitor import FineTuneElicitor
from sandwich.elicit.finetune.losses import logconf, xent
from sandwich.elicit.finetune.minibatch import activation_bytes_per_token, auto_minibatch
from sandwich.elicit.finetune.train import TrainSettings, train

from .conftest import separable_task
from .test_training import classifier

CONFIG = SimpleNamespace(
    hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9
)  # smollm2-135m's shapes


def test_auto_takes_the_whole_step_when_it_fits_and_divides_it_when_not() -> None:
    per_item = activation_bytes_per_token(CONFIG, 16) * 16
    assert auto_minibatch(32, 16, CONFIG, budget=32 * per_item) == 32
    assert auto_minibatch(32, 16, CONFIG, budget=32 * per_item - 1) == 16  # a divisor of 32
    assert auto_minibatch(32, 16, CONFIG, budget=9 * per_item) == 8
    assert auto_minibatch(24, 16, CONFIG, budget=7 * per_item) == 6
    # nothing fits: the smallest that a batch-statistics loss can use, never 1
    assert auto_minibatch(32, 16, CONFIG, budget=0) == 2
    assert auto_minibatch(1, 16, CONFIG, budget=0) == 1  # a one-item batch is what it is
    # longer items: fewer of them per pass
    assert auto_minibatch(32, 64, CONFIG, budget=32 * per_item) < 32


def test_auto_reads_the_memory_available_and_caps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert minibatch.available_memory() > 0
    per_item = activation_bytes_per_token(CONFIG, 16) * 16
    monkeypatch.setattr(minibatch, "available_memory", lambda device=None: 4 * 9 * per_item)
    assert auto_minibatch(32, 16, CONFIG) == 8  # a quarter of the memory: 9 items' worth
    monkeypatch.setattr(minibatch, "available_memory", lambda device=None: 2**50)
    monkeypatch.setattr(minibatch, "CAP", 5 * per_item)
    assert auto_minibatch(32, 16, CONFIG) == 4  # never above the cap, however much is free


def test_auto_rejects_an_empty_batch() -> None:
    with pytest.raises(ValueError, match="auto minibatch: needs a batch"):
        auto_minibatch(0, 16, CONFIG)


@pytest.mark.parametrize("loss", ["xent", "logconf"])
def test_one_pass_per_step_learns_what_accumulated_minibatches_do(
    loss: str, llama_dir: Path
) -> None:
    """auto (here one pass of 8 items a step) vs 2 accumulated passes of 4: the same loss per
    step and the same weights, to float rounding. logconf reads the whole batch (its
    quantile): with one pass a step it gets it without the extra no-grad pass."""
    texts, y = separable_task(32, seed=5)
    texts = [t + " very" * (i % 3) for i, t in enumerate(texts)]  # lengths vary in a step
    loss_fn = xent if loss == "xent" else functools.partial(logconf, warmup_frac=0.0)
    states, step_losses, sizes = [], [], []
    for size in (4, "auto"):
        clf, tok = classifier(llama_dir, "full")
        settings = TrainSettings(epochs=2, lr=1e-2, batch_size=8, minibatch_size=size)  # type: ignore[arg-type]
        result = train(clf, encode(tok, texts, 16), y, loss_fn, settings, seed=0)
        states.append(trainable_state(clf))
        per_step = 8 // result.minibatch_size
        step_losses.append(np.reshape(result.losses, (-1, per_step)).mean(1))
        sizes.append(result.minibatch_size)
    assert sizes == [4, 8]  # recorded: the number given, and what auto chose
    np.testing.assert_allclose(step_losses[1], step_losses[0], rtol=0, atol=1e-5)
    for name, value in states[0].items():
        torch.testing.assert_close(states[1][name], value, rtol=0, atol=2e-4, msg=name)


def test_the_elicitor_defaults_to_auto_and_records_what_it_chose(llama_dir: Path) -> None:
    from sandwich.models import load_model

    est = FineTuneElicitor(mode="lora", epochs=1, batch_size=8, select="last", max_length=16)
    assert est.hparams.minibatch_size == "auto"
    assert est.resolved_params()["minibatch_size"] == "auto"  # before fitting
    texts, y = separable_task(16, seed=6)
    est.fit_text([load_model(str(llama_dir))], texts, y)
    assert est.resolved_params()["minibatch_size"] == 8
    assert est.train_results_[-1].minibatch_size == 8
    # a number is kept, and must divide the batch as before
    assert FineTuneElicitor(batch_size=12, minibatch_size=4).hparams.minibatch_size == 4


def test_the_planner_prices_a_default_finetune_cell(llama_dir: Path, tmp_path: Path) -> None:
    """The planner read ``minibatch_size`` as a number; ``auto`` (the default) plans as one
    pass over the optimizer batch."""
    from sandwich.runs.cost import Throughput
    from sandwich.runs.planning import make_plan
    from sandwich.store import ArtifactStore

    from .test_cells import config

    rates = Throughput.fixed()
    ft = {"name": "finetune", "params": {"mode": "lora", "batch_size": 8, "max_length": 16}}
    cfg = config(tmp_path, str(llama_dir), [ft], n=60)
    plan = make_plan(cfg, ArtifactStore(tmp_path / "store"), throughput=rates)
    trains = [r for r in plan.rows if r.stage == "predictions"]  # the fine-tuning's stage
    assert trains and all(r.flops > 0 and r.memory > 0 for r in trains), trains


@pytest.mark.parametrize("bad", [1, "big"])
def test_a_bad_minibatch_size_names_the_field(bad: object) -> None:
    from sandwich.errors import ConfigError

    with pytest.raises(ConfigError, match="minibatch_size"):
        FineTuneElicitor(minibatch_size=bad)
