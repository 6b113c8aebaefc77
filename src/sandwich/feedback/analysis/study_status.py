"""The numbers of a study, for the dashboard, ``sandwich study status`` and export.

Progress comes from the database; everything about label quality comes from
:mod:`~sandwich.feedback.analysis.quality` and
:mod:`~sandwich.feedback.analysis.label_aggregation`, so the dashboard and the
terminal show the same numbers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from sandwich.errors import ConfigError
from sandwich.feedback.analysis.exclusions import (
    ExclusionReport,
    OverlapReport,
    apply_exclusions,
    mark_exclusions,
    overlap_report,
    stopped_raters,
)
from sandwich.feedback.assistance import shown_reading
from sandwich.feedback.store.checks import ATTENTION, check_counts, exclusion_rule
from sandwich.feedback.store.db import Assignment, Item, Label, Rater, Study
from sandwich.feedback.store.studies import rater_label, raters_per_condition, study_config
from sandwich.feedback.study_config import StudyConfig

T = TypeVar("T")

EXPORT_COLUMNS = [
    "study",
    "item_id",
    "rater_id",
    "condition",
    "answer",
    "confidence",
    "reason",
    "seconds",
    "over_time",
    "is_gold",
    "is_training",
    "truth",
    "created_at",
    "is_attention",
    "timed_out",
    "first_speaker",
    "swapped",
    "excluded",
    "exclusion_reason",
]


def labels_frame(s: Session, study: Study, include_training: bool = True) -> pd.DataFrame:
    """Every label of the study, one row each (columns :data:`EXPORT_COLUMNS`).

    ``item_id`` is the task's item id; ``rater_id`` is ``pid:<PID>`` for a rater
    who came through the open link, ``inv:<number>`` for an invited one (two
    namespaces, so no participant id can pass for an invited rater); ``truth`` is the
    item's gold label (researchers only: raters never see this file);
    ``over_time`` says the answer came after the study's time limit per item.
    ``is_attention`` marks attention checks (``truth`` is the instructed
    answer); ``timed_out`` an answer after an enforced time limit;
    ``first_speaker`` the index of the choice whose debater spoke first in the
    debate reading this rater saw (empty when the assistance has no readings:
    :func:`sandwich.feedback.assistance.shown_reading`);
    ``swapped`` whether a pairwise item was shown B first (empty for a
    statement); a pairwise label's ``answer`` is "A is better" and its
    ``truth`` the gold preference (empty when the pair has no gold or a tie);
    ``excluded`` / ``exclusion_reason`` the labels the analysis leaves out
    (:func:`sandwich.feedback.analysis.exclusions.mark_exclusions`). Nothing is dropped here.
    """
    cfg = study_config(study)
    limit = cfg.time_limit_seconds
    records = [
        {
            "study": study.name,
            "item_id": key,
            "rater_id": rater_label(rid, ext),
            "condition": cond,
            "answer": bool(ans),
            "confidence": float(conf),
            "reason": reason,
            "seconds": float(sec),
            "over_time": bool(sec > limit),
            "is_gold": bool(gold_item),
            "is_training": bool(training),
            "truth": _truth(truth, pair),
            "created_at": created.isoformat(timespec="seconds"),
            "is_attention": role == ATTENTION,
            "timed_out": bool(late),
            "first_speaker": shown_reading(assistance.get(cond), cfg.seed, key, slot, rid),
            "swapped": swapped,
        }
        for (
            key, rid, ext, cond, ans, conf, reason, sec, gold_item, training, truth, created,
            role, late, assistance, slot, pair, swapped,
        ) in _label_rows(s, study)
    ]  # fmt: skip
    frame = pd.DataFrame(records, columns=EXPORT_COLUMNS[:-2])
    frame = mark_exclusions(frame, cfg)[EXPORT_COLUMNS]
    if not include_training:
        frame = frame[~frame["is_training"].astype(bool)].reset_index(drop=True)
    return frame


def _truth(gold: bool, pair: dict[str, Any] | None) -> bool | None:
    """An item's expert answer: a statement's gold label; a pair's gold preference
    (None when the pair has none, or a tie)."""
    if pair is None:
        return bool(gold)
    p = pair.get("gold")
    return None if p is None or p == 0.5 else bool(p > 0.5)


def _label_rows(s: Session, study: Study) -> Sequence[Any]:
    """The study's labels with their item, assignment slot and rater, in label order."""
    return s.execute(
        select(Item.key, Rater.id, Rater.external_id, Label.condition, Label.answer,
               Label.confidence, Label.reason, Label.seconds, Label.is_gold, Label.is_training,
               Item.gold, Label.created_at, Item.role, Label.timed_out, Item.assistance,
               Assignment.slot, Item.pair, Label.swapped)
        .join(Item, Item.id == Label.item_id)
        .join(Assignment, Assignment.id == Label.assignment_id)
        .join(Rater, Rater.id == Label.rater_id)
        .where(Label.study_id == study.id)
        .order_by(Label.id)
    ).all()  # fmt: skip


@dataclass
class StudyStatus:
    """Everything the dashboard and ``study status`` show."""

    name: str
    design: str
    completion_code: str
    progress: list[dict[str, Any]]  # per condition: slots, assigned, answered, raters
    raters: dict[str, int]  # invited, started, finished
    conditions: pd.DataFrame  # quality.condition_summary
    rater_quality: pd.DataFrame  # quality.rater_quality
    aggregate: pd.DataFrame  # item_id, text, truth, p_true per method, n_labels
    sandwich: Any | None = None  # quality.HumanSandwichResult
    sandwich_conditions: tuple[str, str] | None = None
    notes: list[str] = field(default_factory=list)
    labels: pd.DataFrame = field(default_factory=pd.DataFrame)  # raw, with `excluded`
    # crowd-study checks (sandwich.feedback.store.checks): what the analysis left out, overlap
    exclusions: ExclusionReport | None = None
    excluded_raters: pd.DataFrame = field(default_factory=pd.DataFrame)
    overlap: OverlapReport | None = None
    checks: dict[str, int] = field(default_factory=dict)  # screened_out, excluded
    stopped: pd.DataFrame = field(default_factory=pd.DataFrame)  # exclusions.stopped_raters
    exclusion_rule: str = ""


def _progress(s: Session, study: Study) -> list[dict[str, Any]]:
    cfg = study_config(study)
    rows = s.execute(
        select(
            Assignment.condition,
            func.count(),
            func.sum(case((Assignment.rater_id.is_not(None), 1), else_=0)),
            func.sum(case((Assignment.answered_at.is_not(None), 1), else_=0)),
        )
        .where(Assignment.study_id == study.id, Assignment.role == "main")
        .group_by(Assignment.condition)
    ).all()
    by = {c: (int(n), int(a or 0), int(d or 0)) for c, n, a, d in rows}
    late = dict(
        s.execute(
            select(Label.condition, func.count())
            .join(Assignment, Assignment.id == Label.assignment_id)
            .where(
                Label.study_id == study.id,
                Assignment.role == "main",
                Label.seconds > cfg.time_limit_seconds,
            )
            .group_by(Label.condition)
        ).all()
    )
    raters = raters_per_condition(s, study)
    return [
        {
            "condition": c.name,
            "kind": c.kind,
            **dict(zip(("slots", "assigned", "answered"), by.get(c.name, (0, 0, 0)), strict=True)),
            "over_time": int(late.get(c.name, 0)),
            "raters": raters.get(c.name, 0) if cfg.design == "between" else None,
        }
        for c in cfg.conditions
    ]


def _aggregate(frame: pd.DataFrame, texts: dict[str, str], notes: list[str]) -> pd.DataFrame:
    from sandwich.feedback.analysis.label_aggregation import aggregate

    main = frame[~frame["is_gold"] & ~frame["is_training"]]
    out = pd.DataFrame({"item_id": sorted(main["item_id"].unique())})
    if out.empty:
        return out
    truth = main.drop_duplicates("item_id").set_index("item_id")["truth"]
    out["text"] = out["item_id"].map(texts)
    out["truth"] = out["item_id"].map(truth)
    for cond, g in main.groupby("condition", sort=True):
        for method in ("majority-vote", "dawid-skene"):
            try:
                agg = aggregate(g, method=method)
            except Exception as exc:  # crowd-kit can fail on degenerate data
                notes.append(f"{method} on {cond}: {exc}")
                continue
            out[f"{cond}:{method}"] = out["item_id"].map(agg.p_true)
        out[f"{cond}:n"] = out["item_id"].map(g.groupby("item_id").size()).fillna(0).astype(int)
    return out


def rater_counts(s: Session, study: Study) -> dict[str, int]:
    """Raters invited, started and finished."""
    invited, started, finished = s.execute(
        select(func.count(), func.count(Rater.started_at), func.count(Rater.finished_at)).where(
            Rater.study_id == study.id
        )
    ).one()
    return {"invited": invited, "started": started, "finished": finished}


def study_overview(s: Session, study: Study) -> dict[str, Any]:
    """The cheap part of the status (no aggregation): for the list of studies."""
    return {
        "design": study_config(study).design,
        "progress": _progress(s, study),
        "raters": rater_counts(s, study),
    }


def _safely(notes: list[str], what: str, compute: Callable[[], T], default: T) -> T:
    """``compute()``, or ``default`` with a note saying what failed: an analysis that
    cannot be computed (degenerate or unexpected labels) leaves a note on the
    page, never a server error."""
    try:
        return compute()
    except Exception as exc:
        notes.append(f"{what} not available: {exc}")
        return default


def study_status(s: Session, study: Study, n_boot: int = 1000) -> StudyStatus:
    """Progress and every analysis of the study; an analysis that fails is
    replaced by an empty table and a note in ``notes``."""
    from sandwich.feedback.analysis.label_frame import as_label_frame
    from sandwich.feedback.analysis.quality import condition_summary, human_sandwich, rater_quality

    cfg = study_config(study)
    raw = labels_frame(s, study, include_training=False)
    frame, exclusions = apply_exclusions(raw)  # the labels that count
    texts = dict(s.execute(select(Item.key, Item.text).where(Item.study_id == study.id)).all())
    notes: list[str] = []
    empty = pd.DataFrame()
    valid = bool(len(frame)) and _safely(
        notes, "analysis", lambda: as_label_frame(frame, source="labels") is not None, False
    )

    def analysed(what: str, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        return _safely(notes, what, compute, empty) if valid else empty

    threshold = cfg.gold.pass_threshold
    status = StudyStatus(
        name=study.name,
        design=cfg.design,
        completion_code=study.completion_code,
        progress=_progress(s, study),
        raters=rater_counts(s, study),
        conditions=analysed("condition summary", lambda: condition_summary(frame)),
        rater_quality=analysed(
            "rater quality", lambda: rater_quality(frame, pass_threshold=threshold)
        ),
        aggregate=analysed("aggregation", lambda: _aggregate(frame, texts, notes)),
        notes=notes,
        labels=raw,
    )
    _add_checks(s, study, cfg, status, raw, frame, exclusions)
    unassisted = [c.name for c in cfg.conditions if c.kind == "none"]
    assisted = [c.name for c in cfg.conditions if c.kind != "none"]
    if unassisted and assisted and valid:
        pair = (assisted[0], unassisted[0])
        try:
            with warnings.catch_warnings():  # said in the notes instead, where readers look
                warnings.simplefilter("ignore", UserWarning)
                status.sandwich = human_sandwich(frame, pair[0], pair[1], n_boot=n_boot)
            status.sandwich_conditions = pair
            notes.extend(f"sandwich metric: {w}" for w in status.sandwich.warnings)
        except ConfigError as exc:
            notes.append(f"sandwich metric not yet available: {exc}")
        except Exception as exc:
            notes.append(f"sandwich metric not available: {exc}")
    return status


def _add_checks(
    s: Session,
    study: Study,
    cfg: StudyConfig,
    status: StudyStatus,
    raw: pd.DataFrame,
    counted: pd.DataFrame,
    exclusions: ExclusionReport,
) -> None:
    """Exclusions (never silent: also in the notes), overlap reached, screened-out raters."""
    status.exclusions = exclusions
    status.exclusion_rule = exclusion_rule(cfg) if cfg.attention.items else ""
    status.notes[:0] = exclusions.lines()
    out = raw[raw["excluded"]] if len(raw) else raw
    status.excluded_raters = (
        out.groupby(["rater_id", "exclusion_reason"], sort=True)
        .size()
        .rename("labels")
        .reset_index()
        if len(out)
        else pd.DataFrame(columns=["rater_id", "exclusion_reason", "labels"])
    )
    status.overlap = _safely(
        status.notes, "overlap", lambda: overlap_report(s, study, cfg, counted), None
    )
    status.checks = check_counts(s, study)
    status.stopped = stopped_raters(s, study)


def fmt(x: Any, digits: int = 2) -> str:
    """A number for display: NaN/None as an em dash."""
    if x is None:
        return "—"
    if isinstance(x, float) and math.isnan(x):
        return "—"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)
