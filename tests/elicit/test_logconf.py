from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from sandwich.elicit import ELICITORS, LogConfProbe, LogisticProbe, logconf_loss
from sandwich.elicit.logconf import hardened_targets, logconf_grad_logits, warmup_weight
from sandwich.errors import ConfigError

Clustered = Callable[..., Any]


def _ce(z: float, t: float) -> float:
    p = 1 / (1 + math.exp(-z))
    return -(t * math.log(p) + (1 - t) * math.log(1 - p))


def test_loss_by_hand() -> None:
    logits = torch.tensor([2.0, -1.0, 0.5, -3.0])
    weak = torch.tensor([1.0, 0.0, 0.0, 1.0])
    # half the weak labels are positive -> threshold at the median logit (-0.25):
    # the student's hardened labels are [1, 0, 1, 0]
    assert hardened_targets(logits, weak).tolist() == [1.0, 0.0, 1.0, 0.0]
    hard = [1, 0, 1, 0]
    expected = (
        sum(
            0.7 * _ce(z, w) + 0.3 * _ce(z, h)
            for z, w, h in zip([2.0, -1.0, 0.5, -3.0], [1, 0, 0, 1], hard, strict=True)
        )
        / 4
    )
    assert float(logconf_loss(logits, weak, 0.3)) == pytest.approx(expected, rel=1e-6)


def test_hardened_share_matches_soft_weak_share() -> None:
    logits = torch.linspace(-2, 2, 40)
    weak = torch.full((40,), 0.25)  # soft labels: 25% positive on average
    assert float(hardened_targets(logits, weak).mean()) == pytest.approx(0.25)


def test_hardened_threshold_from_the_given_batch() -> None:
    # alone, the items (-1, -0.5) with half weak positives threshold at their own median
    # (-0.75) -> (0, 1); in the batch [2, -1, 0.5, -3] (half weak positives) the threshold
    # is the batch median (-0.25), above both -> (0, 0)
    batch = torch.tensor([2.0, -1.0, 0.5, -3.0])
    batch_weak = torch.tensor([1.0, 0.0, 0.0, 1.0])
    items, weak = torch.tensor([-1.0, -0.5]), torch.tensor([0.0, 1.0])
    assert hardened_targets(items, weak).tolist() == [0.0, 1.0]
    assert hardened_targets(items, weak, batch, batch_weak).tolist() == [0.0, 0.0]


def test_zero_aux_weight_is_soft_cross_entropy() -> None:
    g = torch.Generator().manual_seed(0)
    logits, weak = torch.randn(50, generator=g), torch.rand(50, generator=g)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, weak)
    assert float(logconf_loss(logits, weak, 0.0)) == pytest.approx(float(bce), rel=1e-6)


def test_closed_form_gradient_matches_autograd() -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(32, generator=g, dtype=torch.float64).requires_grad_()
    weak = torch.rand(32, generator=g, dtype=torch.float64)
    for a in (0.0, 0.4, 0.75):
        (auto,) = torch.autograd.grad(logconf_loss(logits, weak, a), [logits])
        assert torch.allclose(auto, logconf_grad_logits(logits.detach(), weak, a))


def test_warmup() -> None:
    assert warmup_weight(0, 100, 0.75, 0.2) == 0.0
    assert warmup_weight(10, 100, 0.75, 0.2) == pytest.approx(0.375)
    assert warmup_weight(20, 100, 0.75, 0.2) == 0.75
    assert warmup_weight(90, 100, 0.75, 0.2) == 0.75
    assert warmup_weight(0, 100, 0.5, 0.0) == 0.5


def test_bad_params_raise(make_clustered: Clustered) -> None:
    X, y, _, _ = make_clustered(0, n=50, d=5, n_test=1)
    with pytest.raises(ConfigError, match="aux_weight: Input should be less than or equal to 1"):
        LogConfProbe(aux_weight=1.5).fit(X, y)
    with pytest.raises(ValueError, match="aux_weight"):
        logconf_loss(torch.zeros(3), torch.zeros(3), -0.1)


def test_registered() -> None:
    assert isinstance(ELICITORS.build("probe-logconf"), LogConfProbe)


def test_zero_aux_weight_behaves_like_the_soft_ce_probe(make_clustered: Clustered) -> None:
    X, y, Xt, _ = make_clustered(3, flip=0.1)
    a = LogConfProbe(aux_weight=0.0).fit(X, y).predict_proba(Xt) > 0.5
    b = LogisticProbe().fit(X, y).predict_proba(Xt) > 0.5
    assert np.mean(a == b) > 0.9


def test_resists_label_noise_better_than_naive_probe(make_clustered: Clustered) -> None:
    """25% of labels flipped on a clustered separable problem: the auxiliary
    confidence loss should beat the naive probe (and itself with aux_weight=0)."""
    logconf, naive, no_aux = [], [], []
    for seed in range(3):
        X, y, Xt, yt = make_clustered(seed, flip=0.25)

        def acc(m: LogConfProbe | LogisticProbe, yt: np.ndarray = yt, Xt: np.ndarray = Xt) -> float:
            return float(np.mean((m.predict_proba(Xt) > 0.5) == yt))

        logconf.append(acc(LogConfProbe().fit(X, y, random_state=seed)))
        naive.append(acc(LogisticProbe().fit(X, y, random_state=seed)))
        no_aux.append(acc(LogConfProbe(aux_weight=0.0).fit(X, y, random_state=seed)))
    assert np.mean(logconf) > np.mean(naive) + 0.01
    assert np.mean(logconf) > np.mean(no_aux)


def test_selection_uses_held_out_weak_labels(make_clustered: Clustered) -> None:
    X, y, _, _ = make_clustered(0, n=200, d=10, n_test=1)
    m = LogConfProbe(epochs=5).fit(X, y)
    assert len(m.val_losses_) == 5
    tiny = LogConfProbe(epochs=3).fit(X[:8], y[:8])  # too few items to hold any out
    assert tiny.val_losses_ == []
