"""A pairwise study's labels as preferences: P(A preferred) per comparison,
aggregated over raters, and the raters' position bias.

A pairwise label is stored in the canonical order (``answer``: "A is
better", with the rater's confidence), so the aggregators of
:mod:`~sandwich.feedback.analysis.label_aggregation` give P(A preferred)
directly, with the same exclusions as statements (attention checks, excluded
raters and timed-out answers left out; training labels never count). This is
what a ``human:`` preference supervisor reads.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from sandwich.errors import ConfigError
from sandwich.feedback.pairs import Pair

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairPreference:
    """The raters' aggregated preference on one comparison.

    ``p_a``: P(A preferred) in [0, 1]; ``n_labels``: labels it rests on;
    ``gold``: the pair's gold preference (None: unknown); ``prompt_id``,
    ``a``, ``b``: the comparison the pairs file named (None if it did not).
    """

    key: str
    prompt: str
    completion_a: str
    completion_b: str
    p_a: float
    n_labels: int
    gold: float | None = None
    prompt_id: str | None = None
    a: int | None = None
    b: int | None = None


def pair_preferences(
    labels: pd.DataFrame | Iterable[Mapping[str, Any]],
    pairs: Iterable[Pair],
    method: str = "dawid-skene",
    condition: str | None = None,
    source: str = "labels",
) -> list[PairPreference]:
    """P(A preferred) per pair that has labels, aggregated with ``method``.

    ``labels``: label records of a pairwise study (``sandwich study export`` or
    :func:`~sandwich.feedback.analysis.study_status.labels_frame`), in the
    canonical order; ``pairs``: the study's pairs (its pairs file). Excluded
    and attention-check labels are left out first (logged), and a label of an
    item that is not one of ``pairs`` is an error naming it. Pairs nobody
    labelled are left out (the caller sees which by their keys).
    """
    from sandwich.feedback.analysis.exclusions import apply_exclusions
    from sandwich.feedback.analysis.label_aggregation import aggregate
    from sandwich.feedback.analysis.label_frame import as_label_frame

    frame = as_label_frame(labels, source=source)
    frame, report = apply_exclusions(frame)
    for line in report.lines():
        log.warning("%s: %s", source, line)
    by_key = {p.key: p for p in pairs}
    unknown = sorted(set(frame["item_id"]) - set(by_key))
    if unknown:
        raise ConfigError(
            f"{source}: {len(unknown)} labelled item(s) are not pairs of this study, "
            f"e.g. {', '.join(unknown[:3])} (labels of a statement study, or another pairs file?)"
        )
    agg = aggregate(frame, method, condition=condition, source=source)
    out = []
    for key, p_a in agg.p_true.items():
        pair = by_key[str(key)]
        out.append(
            PairPreference(
                key=pair.key,
                prompt=pair.prompt,
                completion_a=pair.completion_a,
                completion_b=pair.completion_b,
                p_a=float(p_a),
                n_labels=int(agg.n_labels[key]),
                gold=pair.gold,
                prompt_id=pair.prompt_id,
                a=pair.a,
                b=pair.b,
            )
        )
    return out


def study_pair_preferences(
    db: str, study: str, method: str = "dawid-skene", condition: str | None = None
) -> list[PairPreference]:
    """:func:`pair_preferences` of a pairwise study read from its database (URL)."""
    from sqlalchemy import select

    from sandwich.feedback.analysis.study_status import labels_frame
    from sandwich.feedback.store.db import Item, make_engine, session_factory
    from sandwich.feedback.store.studies import get_study, study_config

    engine = make_engine(db)
    try:
        with session_factory(engine)() as s:
            row = get_study(s, study)
            if not study_config(row).is_pairwise:
                raise ConfigError(f"study {study!r} in {db} is not a pairwise study (no pairs)")
            frame = labels_frame(s, row, include_training=False)
            stored = s.scalars(select(Item.pair).where(Item.study_id == row.id)).all()
    finally:
        engine.dispose()
    if frame.empty:
        raise ConfigError(f"study {study!r} in {db}: no labels yet")
    pairs = [Pair.from_json(p) for p in stored if p is not None]
    return pair_preferences(frame, pairs, method, condition, source=f"study {study!r}")


def comparison_preferences(
    comparisons: Iterable[Any], prefs: Iterable[PairPreference], missing: float | None = None
) -> np.ndarray:
    """P(``a`` preferred) for each comparison (``prompt_id``, ``a``, ``b``: e.g.
    ``sandwich.rewards.data.Comparison``), from the raters' preferences on the
    pairs that name it (in either order: a pair (b, a) gives 1 - p_a). A
    comparison no rater judged is an error naming it (a silent guess would
    bias every number computed from these preferences), unless ``missing``
    is given: then it gets that value (e.g. 0.5 for the comparisons of two
    identical texts, which no study asks about)."""
    found: dict[tuple[str | None, int | None, int | None], float] = {}
    for p in prefs:
        found[(p.prompt_id, p.a, p.b)] = p.p_a
        found.setdefault((p.prompt_id, p.b, p.a), 1.0 - p.p_a)
    out, unjudged = [], []
    for c in comparisons:
        p_a = found.get((c.prompt_id, c.a, c.b), missing)
        if p_a is None:
            unjudged.append(f"{c.prompt_id}:{c.a}-{c.b}")
        out.append(np.nan if p_a is None else p_a)
    if unjudged:
        raise ConfigError(
            f"{len(unjudged)} comparison(s) have no human preference, "
            f"e.g. {', '.join(unjudged[:3])}: put them in the study "
            "(pairs_from_comparisons) and collect labels first, or give missing="
        )
    return np.asarray(out, dtype=np.float64)


@dataclass(frozen=True)
class PositionBias:
    """How often raters picked the completion shown first (0.5: no bias), with a
    Clopper-Pearson interval and the two-sided binomial test of 0.5."""

    n: int
    first_share: float
    ci: tuple[float, float]
    p_value: float


def position_bias(labels: pd.DataFrame, level: float = 0.95) -> PositionBias:
    """Position bias of a pairwise study's labels (columns ``answer``, ``swapped``:
    an export or :func:`~sandwich.feedback.analysis.study_status.labels_frame`).
    The pick shown first is ``answer != swapped`` (A is shown first unless
    swapped). Labels without ``swapped`` (statements) are left out."""
    if "swapped" not in labels or "answer" not in labels:
        raise ConfigError("position bias needs the columns answer and swapped (a pairwise export)")
    known = labels[labels["swapped"].map(_as_bool).notna()]
    if known.empty:
        raise ConfigError("position bias: no pairwise labels (swapped is empty on every row)")
    answer = known["answer"].map(_as_bool).to_numpy(dtype=bool)
    swapped = known["swapped"].map(_as_bool).to_numpy(dtype=bool)
    first = int(np.sum(answer != swapped))
    test = binomtest(first, len(known), 0.5)
    ci = test.proportion_ci(confidence_level=level, method="exact")
    return PositionBias(len(known), first / len(known), (ci.low, ci.high), float(test.pvalue))


def _as_bool(value: Any) -> bool | None:
    """A boolean cell as written by the export (bool, or its CSV text); None if empty."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    text = text.strip().lower()
    return {"true": True, "1": True, "false": False, "0": False}.get(text)
