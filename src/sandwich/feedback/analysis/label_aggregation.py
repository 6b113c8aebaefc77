"""Aggregating several raters' labels into one P(true) per item, with an
estimate of each rater's reliability. Thin wrappers over crowd-kit.

Methods (registered in :data:`AGGREGATORS`; :func:`aggregate` picks one by name):

- ``majority-vote``: P(true) = share of the item's labels that say true. A tie
  gives exactly 0.5, which sandwich's metrics harden to *false* (a positive
  needs P > 0.5, as in scikit-learn). Reliability: a rater's agreement with
  the majority label, a tie being false (not crowd-kit's ``skills_``, whose
  own tie-break differs).
- ``dawid-skene``: one confusion matrix per rater and class priors, fitted by
  EM (Dawid & Skene 1979; crowd-kit ``DawidSkene``). P(true) = the posterior.
  Reliability: the rater's expected accuracy
  ``sum_c prior_c * P(says c | truth c)``.
- ``glad``: a rater expertise ``alpha`` and an item difficulty ``beta``
  (Whitehill et al. 2009; crowd-kit ``GLAD``): P(rater right) =
  ``sigmoid(alpha * exp(beta))``. Reliability: that probability averaged over
  the items the rater labelled.
- ``mean-confidence``: P(true) = mean over the item's labels of the rater's
  stated P(true) (``confidence`` if the answer is true, ``1 - confidence`` if
  false). Reliability: agreement with the aggregated label.

Training labels never enter (they are dropped by
:func:`~sandwich.feedback.analysis.label_frame.as_label_frame`); gold check items do,
like any other item.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
from scipy.special import expit

from sandwich.errors import ConfigError
from sandwich.feedback.analysis.label_frame import as_label_frame
from sandwich.metrics._validate import hard
from sandwich.registry import Registry


@dataclass(frozen=True)
class Aggregate:
    """The aggregate of one set of labels.

    ``p_true``: P(true) per item (indexed by item_id); ``n_labels``: labels per
    item; ``reliability``: estimated accuracy per rater (indexed by rater_id).
    """

    method: str
    p_true: pd.Series
    n_labels: pd.Series
    reliability: pd.Series

    @property
    def labels(self) -> pd.Series:
        """Hard labels: True iff P(true) > 0.5 (a tie is False; ``sandwich.metrics`` convention)."""
        return pd.Series(hard(self.p_true.to_numpy()), index=self.p_true.index, name="label")

    def to_frame(self) -> pd.DataFrame:
        """One row per item: item_id, p_true, label, n_labels."""
        return pd.DataFrame(
            {
                "item_id": self.p_true.index.astype(str),
                "p_true": self.p_true.to_numpy(),
                "label": self.labels.to_numpy(),
                "n_labels": self.n_labels.reindex(self.p_true.index).to_numpy(),
            }
        )


Estimates = tuple[pd.Series, pd.Series]
"""(P(true) per item, reliability per rater)."""

# each entry is a function (labels frame) -> Estimates
AGGREGATORS: Registry[Estimates] = Registry("aggregator")


def _crowd(frame: pd.DataFrame) -> pd.DataFrame:
    """crowd-kit's input: task, worker, label (1 = true, 0 = false)."""
    return pd.DataFrame(
        {
            "task": frame["item_id"].to_numpy(),
            "worker": frame["rater_id"].to_numpy(),
            "label": frame["answer"].astype(int).to_numpy(),
        }
    )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence crowd-kit's pandas deprecation warnings (its code, not ours)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"crowdkit\.")
        yield


def _p_true(probas: pd.DataFrame) -> pd.Series:
    """P(label 1) per task from a crowd-kit probas_ frame (a class never seen has 0)."""
    p = probas.reindex(columns=[0, 1], fill_value=0.0)[1].astype(float)
    p.index = p.index.astype(str)
    return p.rename("p_true")


def _agreement(frame: pd.DataFrame, p_true: pd.Series) -> pd.Series:
    agreed = frame["answer"].to_numpy() == hard(p_true.reindex(frame["item_id"]).to_numpy())
    return pd.Series(agreed, index=frame["rater_id"].to_numpy()).groupby(level=0).mean()


@AGGREGATORS.register("majority-vote", summary="share of labels that say true; tie = 0.5")
def majority_vote(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    from crowdkit.aggregation import MajorityVote

    with _quiet():
        mv = MajorityVote().fit(_crowd(frame))
    p = _p_true(cast(pd.DataFrame, mv.probas_))
    return p, _agreement(frame, p)


@AGGREGATORS.register("dawid-skene", summary="per-rater confusion matrices by EM (crowd-kit)")
def dawid_skene(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    from crowdkit.aggregation import DawidSkene

    with _quiet():
        ds = DawidSkene(n_iter=100).fit(_crowd(frame))
    priors = cast(pd.Series, ds.priors_).reindex([0, 1], fill_value=0.0)
    errors = cast(pd.DataFrame, ds.errors_).reindex(columns=[0, 1], fill_value=0.0)
    acc: dict[str, float] = {}
    for worker, block in errors.groupby(level=0):
        said = block.droplevel(0)
        acc[str(worker)] = float(
            sum(priors[c] * (said.loc[c, c] if c in said.index else 0.0) for c in (0, 1))
        )
    return _p_true(cast(pd.DataFrame, ds.probas_)), pd.Series(acc, dtype=float)


@AGGREGATORS.register("glad", summary="rater expertise x item difficulty by EM (crowd-kit)")
def glad(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    from crowdkit.aggregation import GLAD

    with _quiet():
        model = GLAD(n_iter=100, silent=True).fit(_crowd(frame))
    alpha = model.alphas_.reindex(frame["rater_id"]).to_numpy()
    beta = model.betas_.reindex(frame["item_id"]).to_numpy()
    right = expit(alpha * np.exp(beta))
    reliability = pd.Series(right, index=frame["rater_id"].to_numpy()).groupby(level=0).mean()
    return _p_true(cast(pd.DataFrame, model.probas_)), reliability


@AGGREGATORS.register("mean-confidence", summary="mean of the raters' stated P(true)")
def mean_confidence(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    conf = frame["confidence"].to_numpy()
    stated = np.where(frame["answer"].to_numpy(), conf, 1.0 - conf)
    p = pd.Series(stated, index=frame["item_id"].to_numpy()).groupby(level=0).mean()
    return p.rename("p_true"), _agreement(frame, p)


def aggregate(
    labels: pd.DataFrame | Iterable[Mapping[str, Any]],
    method: str = "dawid-skene",
    condition: str | None = None,
    source: str = "labels",
) -> Aggregate:
    """Aggregate labels (of one ``condition``, if given) with a registered ``method``."""
    factory = AGGREGATORS.entry(method).factory  # unknown name: "did you mean ...?"
    frame = as_label_frame(labels, source=source)
    if condition is not None:
        present = sorted(frame["condition"].unique())
        frame = frame[frame["condition"] == condition]
        if frame.empty:
            raise ConfigError(
                f"{source}: no labels in condition {condition!r} (present: {', '.join(present)})"
            )
    if frame.empty:
        raise ConfigError(f"{source}: no labels to aggregate (training labels are left out)")
    p_true, reliability = factory(frame.reset_index(drop=True))
    reliability.index = reliability.index.astype(str)
    n_labels = frame.groupby("item_id").size().rename("n_labels")
    order = sorted(p_true.index)
    return Aggregate(
        method=method,
        p_true=p_true.reindex(order).astype(float).clip(0.0, 1.0),
        n_labels=n_labels.reindex(order).astype(int),
        reliability=reliability.sort_index().rename("reliability").astype(float),
    )
