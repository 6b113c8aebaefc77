"""Studies and raters in the database: create a study, invite raters."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sandwich.errors import ConfigError
from sandwich.feedback.checks import stopped_per_condition
from sandwich.feedback.db import Assignment, Item, Rater, Study, utcnow
from sandwich.feedback.items import study_items
from sandwich.feedback.study import StudyConfig


def study_config(study: Study) -> StudyConfig:
    return StudyConfig.model_validate(study.config)


def get_study(s: Session, name: str) -> Study:
    study = s.scalar(select(Study).where(Study.name == name))
    if study is None:
        names = s.scalars(select(Study.name).order_by(Study.name)).all()
        raise ConfigError(
            f"no study named {name!r} in this database; studies: {', '.join(names) or '(none)'} "
            "(create one with `sandwich study create <file.yaml>`)"
        )
    return study


def create_study(s: Session, cfg: StudyConfig) -> Study:
    """Store the study, its items (with assistance) and its main-item slots.

    Creating the same config again returns the existing study; a different
    config under an existing name is an error (studies are never overwritten).
    """
    data: dict[str, Any] = cfg.model_dump(mode="json")
    existing = s.scalar(select(Study).where(Study.name == cfg.name))
    if existing is not None:
        # compared as configs: a study stored before a field was added still matches
        if study_config(existing).model_dump(mode="json") == data:
            return existing
        raise ConfigError(
            f"a different study named {cfg.name!r} already exists in this database; "
            "give the new one another name (studies are never overwritten)"
        )
    items = study_items(cfg)  # reads the task and assistance files: fails before writing
    study = Study(
        name=cfg.name,
        config=data,
        completion_code=cfg.completion_code or secrets.token_hex(4).upper(),
        created_at=utcnow(),
    )
    s.add(study)
    s.flush()
    rows = [
        Item(
            study_id=study.id,
            key=it.key,
            text=it.text,
            gold=it.gold,
            role=it.role,
            position=it.position,
            assistance=it.assistance,
        )
        for it in items
    ]
    s.add_all(rows)
    s.flush()
    slots = [
        {
            "study_id": study.id,
            "item_id": row.id,
            "condition": cond.name,
            "role": "main",
            "slot": k,
        }
        for k in range(cfg.overlap)
        for row in rows
        if row.role == "main"
        for cond in cfg.conditions
    ]
    s.execute(insert(Assignment), slots)
    return study


def raters_per_condition(s: Session, study: Study) -> dict[str | None, int]:
    """Raters per condition so far (``None``: the within-rater design's raters)."""
    return dict(
        s.execute(
            select(Rater.condition, func.count())
            .where(Rater.study_id == study.id)
            .group_by(Rater.condition)
        )
        .tuples()
        .all()
    )


def _next_condition(s: Session, study: Study, cfg: StudyConfig) -> str | None:
    """Between-rater design: the condition with the fewest raters so far (not
    counting raters screened out or excluded by the study's checks)."""
    if cfg.design == "within":
        return None
    counts = raters_per_condition(s, study)
    stopped = stopped_per_condition(s, study)  # screened out / excluded raters do not count
    return min((c.name for c in cfg.conditions), key=lambda c: counts.get(c, 0) - stopped.get(c, 0))


def new_rater(s: Session, study: Study, external_id: str | None = None) -> Rater:
    cfg = study_config(study)
    rater = Rater(
        study_id=study.id,
        token=secrets.token_urlsafe(24),
        external_id=external_id,
        condition=_next_condition(s, study, cfg),
        created_at=utcnow(),
    )
    s.add(rater)
    s.flush()
    return rater


def invite(s: Session, study_name: str, n: int) -> list[Rater]:
    """``n`` new raters, each with a personal token (their invite link)."""
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    study = get_study(s, study_name)
    return [new_rater(s, study) for _ in range(n)]


def rater_for_pid(s: Session, study: Study, pid: str) -> Rater:
    """The rater who entered with this participant id (made on first entry)."""
    found = s.scalar(select(Rater).where(Rater.study_id == study.id, Rater.external_id == pid))
    if found is not None:
        return found
    try:
        with s.begin_nested():
            return new_rater(s, study, external_id=pid)
    except IntegrityError:  # the same PID arrived twice at once
        found = s.scalar(select(Rater).where(Rater.study_id == study.id, Rater.external_id == pid))
        assert found is not None
        return found


def study_truth(s: Session, study: Study) -> dict[str, bool]:
    """Statement text -> gold answer, for simulated raters (never sent to a rater)."""
    return dict(s.execute(select(Item.text, Item.gold).where(Item.study_id == study.id)).all())
