"""The paired difference in accuracy between two elicitors on the same test items and seeds.

A comparison "method minus control" is paired twice: within a seed both are
scored on the same test items (so item difficulty cancels), and across seeds
both share the seed's split and supervisor labels. Per seed ``s``::

    diff_s = acc(method) - acc(control)      on that seed's test items

With two or more seeds the estimate is the mean of the ``diff_s`` with a
Student t interval on k - 1 degrees of freedom
(:func:`sandwich.metrics.replicates.mean_ci`): each seed is an independent
replicate of the whole comparison (split, supervisor, both trainings, test
items), so the spread of the ``diff_s`` holds every source of noise once.
With one seed there is no replicate to learn training noise from, so the
interval is a paired percentile bootstrap over that seed's test items
("within-seed"): it says how sure we are *for this split and these fits*,
not over seeds, and is narrower than the truth when training is noisy.

Hard labels follow the project's tie convention (:func:`._validate.hard`:
P(true) = 0.5 is false).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from sandwich.metrics._validate import as_arrays, check_labels, check_probs, hard
from sandwich.metrics.bootstrap import percentile_interval, resample_indices
from sandwich.metrics.replicates import mean_ci

IntervalKind = Literal["t over seeds", "within-seed bootstrap"]


class PairedDifference(NamedTuple):
    """acc(method) - acc(control), averaged over seeds, with its interval.

    ``interval``: ``"t over seeds"`` (k >= 2 seeds) or ``"within-seed
    bootstrap"`` (one seed: a paired bootstrap over its test items).
    ``seed_diffs``: the per-seed differences, in the order given.
    """

    diff: float
    low: float
    high: float
    n_seeds: int
    interval: IntervalKind
    seed_diffs: tuple[float, ...]
    method_acc: float
    control_acc: float


def paired_correctness(
    y_true: ArrayLike, p_method: ArrayLike, p_control: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Per-item correctness (bool arrays) of the two prediction sets on the same items."""
    a = as_arrays(y_true=y_true, p_method=p_method, p_control=p_control)
    y = check_labels(a["y_true"])
    method = hard(check_probs(a["p_method"], "p_method")) == y
    control = hard(check_probs(a["p_control"], "p_control")) == y
    return method, control


def paired_difference(
    seeds: Sequence[tuple[ArrayLike, ArrayLike, ArrayLike]],
    alpha: float = 0.05,
    n_boot: int = 1000,
    seed: int = 0,
) -> PairedDifference:
    """Mean over seeds of acc(method) - acc(control) with a paired interval.

    ``seeds``: one ``(y_true, p_method, p_control)`` per seed; the two
    prediction sets of a seed must be on the same test items (same order).
    ``n_boot`` and ``seed`` are used only with one seed (the within-seed
    bootstrap). Raises ``ValueError`` on no seeds or mismatched arrays,
    naming the seed.
    """
    if not seeds:
        raise ValueError("paired_difference: give at least one seed's predictions")
    diffs, accs_m, accs_c = [], [], []
    items: list[np.ndarray] = []
    for i, (y, p_m, p_c) in enumerate(seeds):
        try:
            m, c = paired_correctness(y, p_m, p_c)
        except ValueError as exc:
            raise ValueError(f"paired_difference, seed {i}: {exc}") from None
        accs_m.append(float(m.mean()))
        accs_c.append(float(c.mean()))
        diffs.append(accs_m[-1] - accs_c[-1])
        items.append(m.astype(np.float64) - c.astype(np.float64))
    kind: IntervalKind
    if len(diffs) >= 2:
        t = mean_ci(diffs, alpha)
        low, high, kind = t.low, t.high, "t over seeds"
    else:
        d = items[0]
        reps = d[resample_indices(len(d), n_boot, seed)].mean(axis=1)
        low, high = percentile_interval(reps, alpha)
        kind = "within-seed bootstrap"
    return PairedDifference(
        diff=float(np.mean(diffs)),
        low=float(low),
        high=float(high),
        n_seeds=len(diffs),
        interval=kind,
        seed_diffs=tuple(diffs),
        method_acc=float(np.mean(accs_m)),
        control_acc=float(np.mean(accs_c)),
    )
