"""The fine-tuning losses against values computed by hand (see each comment)."""

from __future__ import annotations

import math

import pytest
import torch

from sandwich.elicit.finetune.losses import LOSSES, logconf, product, xent
from sandwich.errors import ConfigError
from sandwich.registry import NoParams

LN3 = math.log(3.0)


def t(x: list[float] | list[list[float]]) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float32)


def test_xent_hand_computed() -> None:
    # logits (0, ln 3) -> P(true) = 3/4
    assert float(xent(t([[0.0, LN3]]), t([1.0]))) == pytest.approx(-math.log(0.75), abs=1e-6)
    # soft label 0.5: -(0.5 ln 1/4 + 0.5 ln 3/4) = 0.836988
    assert float(xent(t([[0.0, LN3]]), t([0.5]))) == pytest.approx(0.836988, abs=1e-6)
    # equal logits: ln 2 whatever the label; the mean over the batch
    assert float(xent(t([[0.0, 0.0], [1.0, 1.0]]), t([0.3, 1.0]))) == pytest.approx(math.log(2))


Z = [[0.0, 2.0], [0.0, -1.0], [0.0, 1.0], [0.0, -3.0]]  # log-odds 2, -1, 1, -3
WEAK = [1.0, 0.0, 0.0, 1.0]  # half positive -> threshold = median of log-odds = 0


def test_logconf_after_warmup_hand_computed() -> None:
    # hardened = (1, 0, 1, 0); targets = 0.25 weak + 0.75 hardened = (1, 0, .75, .25)
    # CE_i = softplus(z) - t z: 0.126928, 0.313262, 0.563262, 0.798587 -> mean 0.450510
    assert float(logconf(t(Z), t(WEAK), step_frac=1.0)) == pytest.approx(0.450510, abs=1e-5)


def test_logconf_during_warmup_hand_computed() -> None:
    # step_frac 0.1 of warmup 0.2 -> a = 0.75 * 0.5 = 0.375; targets (1, 0, .375, .625)
    # CE: 0.126928, 0.313262, 0.938262, 1.923587 -> mean 0.825510
    got = float(logconf(t(Z), t(WEAK), step_frac=0.1, aux_weight=0.75, warmup_frac=0.2))
    assert got == pytest.approx(0.825510, abs=1e-5)


def test_logconf_with_zero_weight_is_xent() -> None:
    assert float(logconf(t(Z), t(WEAK), 0.9, aux_weight=0.0)) == pytest.approx(
        float(xent(t(Z), t(WEAK)))
    )
    assert float(logconf(t(Z), t(WEAK), 0.0)) == pytest.approx(float(xent(t(Z), t(WEAK))))


def test_product_hand_computed() -> None:
    # preds (1/4, 3/4); labels (1/2, 1/2) -> target (1/4, 3/4) -> entropy 0.562335
    assert float(product(t([[0.0, LN3]]), t([0.5]))) == pytest.approx(0.562335, abs=1e-6)
    # labels (0.8, 0.2) * preds -> (0.2, 0.15) -> (4/7, 3/7): CE 0.915460
    assert float(product(t([[0.0, LN3]]), t([0.2]))) == pytest.approx(0.915460, abs=1e-6)


def test_product_target_carries_no_gradient() -> None:
    logits = t([[0.0, LN3]]).requires_grad_()
    product(logits, t([0.5])).backward()
    # gradient of CE with a fixed target (1/4, 3/4) at preds (1/4, 3/4) is zero
    assert torch.allclose(logits.grad, torch.zeros(1, 2), atol=1e-6)


def test_losses_are_registered_and_reject_bad_shapes() -> None:
    assert {"xent", "logconf", "product"} <= set(LOSSES.names())
    with pytest.raises(ValueError, match=r"logits \(batch, 2\)"):
        xent(t([0.0, 1.0]), t([1.0, 0.0]))
    with pytest.raises(ConfigError, match="aux_weight: Input should be less than or equal to 1"):
        LOSSES.validate("logconf", {"aux_weight": 2.0})


def test_a_new_loss_is_one_registered_function() -> None:
    @LOSSES.register("test-half-xent", params=NoParams)
    def half(logits: torch.Tensor, labels: torch.Tensor, step_frac: float) -> torch.Tensor:
        return 0.5 * xent(logits, labels)

    from sandwich.elicit import FineTuneElicitor

    assert FineTuneElicitor(loss="test-half-xent").hparams.loss_params == {}  # usable by name
    assert float(LOSSES.entry("test-half-xent").factory(t(Z), t(WEAK), 0.0)) == pytest.approx(
        0.5 * float(xent(t(Z), t(WEAK)))
    )


# items 1 and 3 of Z (log-odds -1, -3; weak labels 0, 1): a minibatch of the batch Z
MB_LOGITS, MB_WEAK = [[0.0, -1.0], [0.0, -3.0]], [0.0, 1.0]


def test_logconf_thresholds_over_the_whole_batch_when_given() -> None:
    # the batch Z has half weak positives -> threshold 0 -> hardened (0, 0);
    # targets 0.25 * (0, 1) + 0.75 * (0, 0) = (0, .25); CE 0.313262, 0.798587 -> mean 0.555925
    got = logconf(t(MB_LOGITS), t(MB_WEAK), 1.0, batch_logits=t(Z), batch_labels=t(WEAK))
    assert float(got) == pytest.approx(0.555925, abs=1e-5)
    # alone, the minibatch's own median (-2) hardens to (1, 0): targets (.75, .25) -> 0.930925
    assert float(logconf(t(MB_LOGITS), t(MB_WEAK), 1.0)) == pytest.approx(0.930925, abs=1e-5)


def test_logconf_minibatches_with_their_batch_average_to_the_batch_loss() -> None:
    # what gradient accumulation computes (the mean of the minibatch losses) is the loss
    # the reference computes once on the stacked batch
    halves = [
        logconf(t(Z)[rows], t(WEAK)[rows], 1.0, batch_logits=t(Z), batch_labels=t(WEAK))
        for rows in ([0, 2], [1, 3])
    ]
    assert float(sum(halves) / 2) == pytest.approx(float(logconf(t(Z), t(WEAK), 1.0)), abs=1e-6)
