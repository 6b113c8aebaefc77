"""Coverage harness: how often sandwich's own 95% intervals contain the truth.

Each scenario simulates data whose true value is known, runs the interval
function the pipeline calls on it, many times, and returns the share of
intervals that contain the truth with its Monte Carlo standard error
``sqrt(c (1 - c) / n_rep)``.

Simulated correctness: on each test item the weak, student and ceiling models
are right or wrong through a Gaussian copula: item ``i`` has a latent
difficulty ``z_i`` shared by the three models and each model adds its own
noise, ``L = sqrt(rho) z_i + sqrt(1 - rho) e``; the model is right when
``L < Phi^-1(acc)``, so its accuracy is exactly ``acc`` and ``rho`` sets how
much the three agree on which items are hard. Between-seed variance: each
seed adds a random offset (normal, sd ``seed_sd``) to each model's accuracy,
mean 0, so the true PGR is that of the mean accuracies.

Judge scores (:func:`gap_closed_coverage`) follow the same copula with a
third outcome, a tie (score 0.5). Human labels
(:func:`human_sandwich_coverage`) follow a crossed probit model: a label is
right when ``mu_condition + u_rater + v_item + e > 0`` with rater skill
``u ~ N(0, rater_sd)``, item difficulty ``v ~ N(0, item_sd)`` (shared by the
conditions: they label the same items) and ``e ~ N(0, 1)``.

Used by ``tests/metrics/test_coverage.py`` and ``benchmarks/coverage.py``;
results in docs/results.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy.stats import norm

from sandwich.metrics.bootstrap import Interval, percentile_interval
from sandwich.metrics.crossed import (
    CrossedLabels,
    _accuracies,
    _uniform_counts,
    crossed_ratio_interval,
)
from sandwich.metrics.judge import gap_closed
from sandwich.metrics.pgr_ci import (
    PGRResult,
    _correct,
    _summarise,
    pattern_bootstrap,
    pgr_with_ci,
    pgr_with_ci_over_seeds,
)
from sandwich.metrics.replicates import ratio_ci


class Coverage(NamedTuple):
    """The coverage of one interval in one scenario."""

    interval: str
    scenario: str
    coverage: float
    mc_se: float  # Monte Carlo standard error of ``coverage``
    n_rep: int
    mean_width: float  # mean width of the bounded intervals
    n_unbounded: int  # replications whose confidence set was unbounded

    def line(self) -> str:
        return (
            f"{self.interval:<34} {self.scenario:<44} {self.coverage:.3f} ± {self.mc_se:.3f}"
            f"  width {self.mean_width:.3f}  unbounded {self.n_unbounded}/{self.n_rep}"
        )


def _coverage(name: str, scenario: str, truth: float, cis: Sequence[Interval]) -> Coverage:
    """How often the intervals of the simulated replicates hold ``truth``, and how wide."""
    hits = np.array([ci.contains(truth) for ci in cis], dtype=bool)
    return _summary(name, scenario, hits, np.array([ci.high - ci.low for ci in cis]), 0)


def _summary(
    interval: str, scenario: str, hits: np.ndarray, widths: np.ndarray, unbounded: int
) -> Coverage:
    c = float(np.mean(hits))
    finite = widths[np.isfinite(widths)]
    return Coverage(
        interval,
        scenario,
        c,
        math.sqrt(c * (1 - c) / len(hits)),
        len(hits),
        float(finite.mean()) if finite.size else float("nan"),
        unbounded,
    )


class PGRScenario(NamedTuple):
    """Known accuracies of weak, student, ceiling; items per seed; seed variance."""

    weak: float = 0.65
    student: float = 0.72
    ceiling: float = 0.82
    n_items: int = 400
    n_seeds: int = 1
    seed_sd: float = 0.0
    rho: float = 0.5

    @property
    def true_pgr(self) -> float:
        return (self.student - self.weak) / (self.ceiling - self.weak)

    def label(self) -> str:
        return f"n={self.n_items} seeds={self.n_seeds} seed_sd={self.seed_sd:g}"


def simulate_correct(rng: np.random.Generator, s: PGRScenario) -> np.ndarray:
    """(n_seeds, n_items, 3) correctness of weak, student, ceiling (module docstring)."""
    acc = np.array([s.weak, s.student, s.ceiling])
    acc = acc + s.seed_sd * rng.standard_normal((s.n_seeds, 3))
    thresholds = norm.ppf(np.clip(acc, 1e-4, 1 - 1e-4))[:, None, :]
    z = rng.standard_normal((s.n_seeds, s.n_items, 1))
    e = rng.standard_normal((s.n_seeds, s.n_items, 3))
    return math.sqrt(s.rho) * z + math.sqrt(1 - s.rho) * e < thresholds


def _as_predictions(correct: np.ndarray) -> Predictions:
    """Gold labels (all 1) and 0/1 predictions that are right exactly where ``correct``."""
    w, s, c = (correct[:, j].astype(np.float64) for j in range(3))
    return np.ones(len(correct)), w, s, c


Predictions = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
PGRMethod = Callable[[list[Predictions]], PGRResult]


def pipeline_group_interval(n_boot: int = 1000) -> PGRMethod:
    """The interval every group of a run reports (``runs.w2s.aggregate``)."""

    def method(groups: list[Predictions]) -> PGRResult:
        return pgr_with_ci_over_seeds(groups, n_boot=n_boot, seed=0)

    return method


def pgr_coverage(
    scenario: PGRScenario,
    n_rep: int = 2000,
    seed: int = 0,
    method: PGRMethod | None = None,
    name: str = "PGR (group interval)",
) -> Coverage:
    """Coverage of PGR's interval over ``n_rep`` simulated groups of seeds.

    ``method`` maps one group (a list of (y_true, p_weak, p_student,
    p_ceiling) per seed) to a :class:`~sandwich.metrics.pgr_ci.PGRResult`;
    by default the pipeline's group interval with 1000 bootstrap replicates.
    """
    return group_coverage(scenario, n_rep, seed, method, name)[0]


def group_coverage(
    scenario: PGRScenario,
    n_rep: int = 2000,
    seed: int = 0,
    method: PGRMethod | None = None,
    name: str = "PGR (group interval)",
    kind: str = "group",
) -> list[Coverage]:
    """Coverage of every interval of a group: PGR, weak, student and ceiling
    accuracy, and the gap (in that order), from the same simulations."""
    run = method or pipeline_group_interval()
    rng = np.random.default_rng(seed)
    s = scenario
    truths = {
        "weak_acc_ci": s.weak,
        "student_acc_ci": s.student,
        "ceiling_acc_ci": s.ceiling,
        "gap_ci": s.ceiling - s.weak,
    }
    hits = np.zeros((n_rep, 5), dtype=bool)
    widths = np.full((n_rep, 5), np.nan)
    unbounded = 0
    for r in range(n_rep):
        res = run([_as_predictions(c) for c in simulate_correct(rng, s)])
        hits[r, 0] = res.pgr_covers(s.true_pgr)
        unbounded += not res.pgr_bounded or math.isnan(res.pgr_ci.low)
        widths[r, 0] = res.pgr_ci.high - res.pgr_ci.low
        for j, (field, truth) in enumerate(truths.items(), start=1):
            ci = getattr(res, field)
            hits[r, j] = ci.contains(truth)
            widths[r, j] = ci.high - ci.low
    names = [name, *(f"{kind} {f[:-3].replace('_', ' ')}" for f in truths)]
    return [
        _summary(n, s.label(), hits[:, j], widths[:, j], unbounded if j == 0 else 0)
        for j, n in enumerate(names)
    ]


def cell_bootstrap(n_boot: int = 1000) -> PGRMethod:
    """One seed's paired percentile bootstrap (:func:`pgr_with_ci`, every cell's CI)."""

    def method(groups: list[Predictions]) -> PGRResult:
        ((y, p_weak, p_student, p_ceiling),) = groups
        return pgr_with_ci(y, p_weak, p_student, p_ceiling, n_boot=n_boot, seed=0)

    return method


def items_fieller(groups: list[Predictions]) -> PGRResult:
    """The alternative within-seed interval: Fieller with items as the replicates
    (t on n - 1 df), for comparison with the bootstrap."""
    (only,) = groups
    c = _correct(only, "items_fieller").astype(np.float64)
    r = ratio_ci(c[:, 1] - c[:, 0], c[:, 2] - c[:, 0])
    base = cell_bootstrap(10)(groups)
    return base._replace(pgr_ci=Interval(r.low, r.high), pgr_bounded=r.bounded, fieller=r)


class JudgeScenario(NamedTuple):
    """Known expected judge scores, naive and with the protocol, on paired items."""

    naive: float = 0.62
    protocol: float = 0.74
    tie: float = 0.1  # share of items scored 0.5 (the judge picks the same slot both orders)
    n_items: int = 200
    rho: float = 0.5

    @property
    def true_closed(self) -> float:
        return (self.protocol - self.naive) / (1.0 - self.naive)

    def label(self) -> str:
        return f"n={self.n_items} naive={self.naive:g} protocol={self.protocol:g}"


def simulate_judge_scores(rng: np.random.Generator, s: JudgeScenario) -> np.ndarray:
    """(n_items, 2) scores (1, 0.5 or 0) of the protocol and the naive judge, whose
    expected scores are ``protocol`` and ``naive`` (module docstring)."""
    mean = np.array([s.protocol, s.naive])
    right = norm.ppf(mean - s.tie / 2)  # below: score 1
    wrong = norm.ppf(mean + s.tie / 2)  # above: score 0, between: a tie
    z = rng.standard_normal((s.n_items, 1))
    latent = math.sqrt(s.rho) * z + math.sqrt(1 - s.rho) * rng.standard_normal((s.n_items, 2))
    return np.where(latent < right, 1.0, np.where(latent < wrong, 0.5, 0.0))


def gap_closed_coverage(
    scenario: JudgeScenario, n_rep: int = 2000, seed: int = 0, n_boot: int = 1000
) -> Coverage:
    """Coverage of :func:`~sandwich.metrics.judge.gap_closed`'s CI (expert = 1.0),
    as ``protocols.measure`` calls it."""
    rng = np.random.default_rng(seed)
    draws = (simulate_judge_scores(rng, scenario) for _ in range(n_rep))
    cis = [gap_closed(d[:, 0], d[:, 1], n_boot=n_boot, seed=r).ci for r, d in enumerate(draws)]
    return _coverage("judge gap closed", scenario.label(), scenario.true_closed, cis)


class HumanScenario(NamedTuple):
    """A two-condition human study (expert = the answer key) with known accuracies.

    Probit model (module docstring): ``mu_*`` are the conditions' means on the
    latent scale; each item gets ``labels_per_item`` labels per condition from
    distinct raters drawn among that condition's ``raters`` (between-subjects).
    """

    mu_unassisted: float = 0.4
    mu_assisted: float = 1.0
    rater_sd: float = 0.5
    item_sd: float = 0.8
    n_items: int = 100
    raters: int = 10
    labels_per_item: int = 3

    def accuracy(self, mu: float) -> float:
        """Population accuracy: P(mu + u + v + e > 0) over raters, items and noise."""
        return float(norm.cdf(mu / math.sqrt(1 + self.rater_sd**2 + self.item_sd**2)))

    @property
    def true_closed(self) -> float:
        u, a = self.accuracy(self.mu_unassisted), self.accuracy(self.mu_assisted)
        return (a - u) / (1 - u)

    def label(self) -> str:
        return (
            f"items={self.n_items} raters={self.raters}/cond labels/item={self.labels_per_item}"
            f" rater_sd={self.rater_sd:g} item_sd={self.item_sd:g}"
        )


def simulate_human_labels(rng: np.random.Generator, s: HumanScenario) -> CrossedLabels:
    """One simulated study as per-(rater, item) counts, assisted then unassisted
    (raters 0..raters-1 assisted, the next ``raters`` unassisted)."""
    if s.labels_per_item > s.raters:
        raise ValueError(f"labels_per_item {s.labels_per_item} > raters {s.raters}")
    v = s.item_sd * rng.standard_normal(s.n_items)
    rights, totals = [], []
    for c, mu in enumerate((s.mu_assisted, s.mu_unassisted)):
        u = s.rater_sd * rng.standard_normal(s.raters)
        # labels_per_item distinct raters of this condition per item
        who = np.argsort(rng.random((s.n_items, s.raters)), axis=1)[:, : s.labels_per_item]
        item = np.repeat(np.arange(s.n_items), s.labels_per_item)
        rater = who.ravel()
        right = mu + u[rater] + v[item] + rng.standard_normal(item.size) > 0
        total = np.zeros((2 * s.raters, s.n_items))
        good = np.zeros_like(total)
        np.add.at(total, (rater + c * s.raters, item), 1.0)
        np.add.at(good, (rater + c * s.raters, item), right.astype(float))
        rights.append(good)
        totals.append(total)
    strata = [np.arange(s.raters), np.arange(s.raters, 2 * s.raters)]
    return CrossedLabels(rights, totals, strata)


def as_label_records(data: CrossedLabels) -> list[dict[str, Any]]:
    """The same study as label records (for
    :func:`sandwich.feedback.analysis.quality.human_sandwich`): condition 0 is
    ``assisted``, 1 ``unassisted``; every truth is True. Ids are zero-padded so
    that sorting them keeps the matrices' order."""
    names = ("assisted", "unassisted", "expert")
    out = []
    for c, (right, total) in enumerate(zip(data.right, data.total, strict=True)):
        for r, i in zip(*np.nonzero(total), strict=True):
            n, k = int(total[r, i]), int(right[r, i])
            out += [
                {"item_id": f"i{i:05d}", "rater_id": f"r{r:04d}", "condition": names[c],
                 "answer": j < k, "truth": True}
                for j in range(n)
            ]  # fmt: skip
    return out


HumanInterval = Callable[[CrossedLabels, int, int], Interval]


def crossed_closed(data: CrossedLabels, n_boot: int, seed: int) -> Interval:
    """The gap-closed interval
    :func:`~sandwich.feedback.analysis.quality.human_sandwich` reports."""
    return crossed_ratio_interval(data, n_boot=n_boot, seed=seed).ci["closed"]


def _closed_percentile(
    data: CrossedLabels, rater_w: np.ndarray | None, item_w: np.ndarray
) -> Interval:
    acc = _accuracies(data, rater_w, item_w)
    with np.errstate(invalid="ignore", divide="ignore"):
        return percentile_interval((acc[:, 0] - acc[:, 1]) / (1 - acc[:, 1]))


def legacy_items_only(data: CrossedLabels, n_boot: int, seed: int) -> Interval:
    """The replaced interval: a percentile bootstrap over items only (raters fixed)."""
    rng = np.random.default_rng(seed)
    return _closed_percentile(data, None, _uniform_counts(rng, data.total[0].shape[1], n_boot))


def plain_pigeonhole(data: CrossedLabels, n_boot: int, seed: int) -> Interval:
    """The uncorrected crossed bootstrap (raters within condition and items), for comparison."""
    rng = np.random.default_rng(seed)
    n_raters, n_items = data.total[0].shape
    item_w = _uniform_counts(rng, n_items, n_boot)
    rater_w = np.zeros((n_boot, n_raters))
    for st in data.strata:
        rater_w[:, st] = _uniform_counts(rng, len(st), n_boot)
    return _closed_percentile(data, rater_w, item_w)


def human_sandwich_coverage(
    scenario: HumanScenario,
    n_rep: int = 2000,
    seed: int = 0,
    n_boot: int = 500,
    interval: HumanInterval = crossed_closed,
    name: str = "human gap closed",
) -> Coverage:
    """Coverage of the human sandwich metric's gap-closed CI (label-level accuracy,
    expert = the answer key); ``interval`` maps (data, n_boot, seed) to a CI."""
    rng = np.random.default_rng(seed)
    cis = [interval(simulate_human_labels(rng, scenario), n_boot, r) for r in range(n_rep)]
    return _coverage(name, scenario.label(), scenario.true_closed, cis)


def legacy_two_level_bootstrap(n_boot: int = 1000) -> PGRMethod:
    """The replaced group interval, kept to measure it: resample seeds, then items
    within each drawn seed (each drawn as a multinomial over the 8 correctness
    patterns), percentile interval of PGR of the averaged accuracies."""

    def method(groups: list[Predictions]) -> PGRResult:
        correct = [_correct(g, f"groups[{i}]") for i, g in enumerate(groups)]
        rng = np.random.default_rng(0)
        k = len(correct)
        chosen = rng.integers(0, k, size=(n_boot, k))
        acc = np.empty((n_boot, k, 3))
        for s, c in enumerate(correct):
            where = chosen == s
            m = int(where.sum())
            if m:
                acc[where] = pattern_bootstrap(c, m, int(rng.integers(2**31)))
        reps = acc.mean(axis=1)
        point = np.mean([c.mean(axis=0) for c in correct], axis=0)
        return _summarise(point, reps, 0.05, 0.02)

    return method
