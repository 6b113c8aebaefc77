"""Which labels count: the exclusions of the crowd-study checks (never silent:
every analysis reports what it left out, and why), the overlap reached, and the
raters the checks stopped (:mod:`~sandwich.feedback.store.checks` keeps their state)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from sandwich.feedback.store.checks import exclusion_rule, stopped
from sandwich.feedback.store.db import Item, Rater, RaterCheck, Study
from sandwich.feedback.store.studies import rater_label
from sandwich.feedback.study_config import StudyConfig

TIMED_OUT_REASON = "answered after the enforced time limit"


def mark_exclusions(frame: pd.DataFrame, cfg: StudyConfig) -> pd.DataFrame:
    """Add ``excluded`` and ``exclusion_reason`` to an export frame (columns
    ``rater_id``, ``is_attention``, ``answer``, ``truth``, ``timed_out``)."""
    frame = frame.copy()
    reasons = pd.Series([""] * len(frame), index=frame.index, dtype=object)
    att = frame[frame["is_attention"].astype(bool)]
    if len(att):
        wrong = (att["answer"].astype(bool) != att["truth"].astype(bool)).groupby(att["rater_id"])
        failed, answered = wrong.sum(), wrong.size()
        out = failed[failed > cfg.attention.max_failed]
        why = {
            r: f"{exclusion_rule(cfg)} ({int(out[r])} of {int(answered[r])} answered wrong)"
            for r in out.index
        }
        reasons = frame["rater_id"].map(why).fillna("").astype(object)
    late = frame["timed_out"].astype(bool)
    reasons[late] = [f"{r}; {TIMED_OUT_REASON}" if r else TIMED_OUT_REASON for r in reasons[late]]
    frame["excluded"] = reasons != ""
    frame["exclusion_reason"] = reasons
    return frame


@dataclass(frozen=True)
class ExclusionReport:
    """What the analysis left out, and why (shown wherever numbers are shown)."""

    raters: int  # raters whose every label is left out (attention rule)
    labels: int  # labels left out, for any reason
    by_reason: dict[str, tuple[int, int]]  # reason -> (raters, labels)
    attention_labels: int  # attention-check answers (not task items; never analysed)

    def lines(self) -> list[str]:
        if not self.labels:
            return []
        out = [f"excluded {self.raters} rater(s) and {self.labels} label(s) from the analysis"]
        out += [f"{n} label(s) of {r} rater(s): {why}" for why, (r, n) in self.by_reason.items()]
        return out


def apply_exclusions(frame: pd.DataFrame) -> tuple[pd.DataFrame, ExclusionReport]:
    """The labels that count (not excluded, not attention checks) and a report of
    what was left out. ``frame`` may lack the check columns (older exports)."""
    excl = (
        frame["excluded"].astype(bool)
        if "excluded" in frame
        else pd.Series(False, index=frame.index)
    )
    att = (
        frame["is_attention"].astype(bool)
        if "is_attention" in frame
        else pd.Series(False, index=frame.index)
    )
    reason = (
        frame["exclusion_reason"].fillna("").astype(str)
        if "exclusion_reason" in frame
        else pd.Series("", index=frame.index)
    )
    gone = frame[excl]
    by_reason: dict[str, tuple[int, int]] = {}
    for why, g in gone.groupby(reason[excl].replace("", "excluded"), sort=True):
        by_reason[str(why)] = (int(g["rater_id"].nunique()), len(g))
    whole = {
        r for r, g in frame.groupby("rater_id") if bool(excl.loc[g.index].all()) and len(g) > 0
    }
    report = ExclusionReport(
        raters=len(whole),
        labels=int(excl.sum()),
        by_reason=by_reason,
        attention_labels=int(att.sum()),
    )
    return frame[~excl & ~att].reset_index(drop=True), report


# --- overlap reached -------------------------------------------------------------------


@dataclass(frozen=True)
class OverlapReport:
    """Counted labels per main item and condition against the study's ``overlap``."""

    overlap: int
    distribution: pd.DataFrame  # condition, then one column per count 0..overlap: items
    short: pd.DataFrame  # condition, item_id, labels: items with fewer than overlap


def overlap_report(
    s: Session, study: Study, cfg: StudyConfig, counted: pd.DataFrame
) -> OverlapReport:
    """From the labels that count (``apply_exclusions``) and the study's main items."""
    keys = s.scalars(
        select(Item.key).where(Item.study_id == study.id, Item.role == "main").order_by(Item.key)
    ).all()
    main = counted
    if len(main):
        main = main[~main["is_gold"].astype(bool) & ~main["is_training"].astype(bool)]
    dist_rows: list[dict[str, Any]] = []
    short_rows: list[dict[str, Any]] = []
    for c in cfg.conditions:
        got = main[main["condition"] == c.name] if len(main) else main
        per_item = (
            got.groupby("item_id").size().reindex(keys, fill_value=0)
            if len(got)
            else pd.Series(0, index=list(keys))
        )
        hist = per_item.clip(upper=cfg.overlap).value_counts()
        dist_rows.append(
            {"condition": c.name, **{str(k): int(hist.get(k, 0)) for k in range(cfg.overlap + 1)}}
        )
        short_rows += [
            {"condition": c.name, "item_id": k, "labels": int(n)}
            for k, n in per_item.items()
            if n < cfg.overlap
        ]
    return OverlapReport(
        overlap=cfg.overlap,
        distribution=pd.DataFrame(
            dist_rows, columns=["condition", *(str(k) for k in range(cfg.overlap + 1))]
        ),
        short=pd.DataFrame(short_rows, columns=["condition", "item_id", "labels"]),
    )


def stopped_raters(s: Session, study: Study) -> pd.DataFrame:
    """One row per rater screened out or excluded: rater_id (``pid:<PID>`` or
    ``inv:<n>``, as in the export), condition, status, reason, at."""
    columns = (Rater.id, Rater.external_id, Rater.condition, RaterCheck)
    rows = s.execute(stopped(study, *columns).order_by(Rater.id)).all()
    records = [
        {
            "rater_id": rater_label(rid, ext),
            "condition": cond or "",
            "status": "screened out" if row.screened_out_at is not None else "excluded",
            "reason": f"comprehension: wrong in {row.comprehension_attempts} tries"
            if row.screened_out_at is not None
            else row.excluded_reason,
            "at": _when(row.screened_out_at or row.excluded_at),
        }
        for rid, ext, cond, row in rows
    ]
    return pd.DataFrame(records, columns=["rater_id", "condition", "status", "reason", "at"])


def _when(at: dt.datetime | None) -> str:
    return at.isoformat(timespec="seconds") if at is not None else ""
