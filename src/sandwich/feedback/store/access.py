"""Which researcher sees which study.

A study has an owner and members (:class:`~sandwich.feedback.store.db.StudyMember`);
a researcher sees a study when they are one of them. A study with no owner
and no members (every study made before owners existed, or created without
``--owner``) is visible to every researcher, so upgrading the database hides
nothing; give it an owner with ``sandwich study share <study> --with <name>
--owner`` to close it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import Session

from sandwich.errors import ConfigError
from sandwich.feedback.store.db import Researcher, Study, StudyMember

ROLES = ("owner", "member")


def get_researcher(s: Session, username: str) -> Researcher:
    found = s.scalar(select(Researcher).where(Researcher.username == username))
    if found is None:
        raise ConfigError(
            f"no researcher named {username!r} (create the login first: "
            f"`sandwich study researcher {username}`)"
        )
    return found


def share(s: Session, study: Study, username: str, role: str = "member") -> StudyMember:
    """Let ``username`` see ``study`` as ``owner`` or ``member`` (idempotent;
    a second owner is allowed: ownership only matters for who may see it)."""
    if role not in ROLES:
        raise ConfigError(f"study access role must be one of {', '.join(ROLES)}, got {role!r}")
    who = get_researcher(s, username)
    found = s.get(StudyMember, (study.id, who.id))
    if found is None:
        found = StudyMember(study_id=study.id, researcher_id=who.id, role=role)
        s.add(found)
    elif role == "owner":
        found.role = "owner"
    s.flush()
    return found


def unshare(s: Session, study: Study, username: str) -> bool:
    """Take ``username``'s access to ``study`` away; False if they had none."""
    who = get_researcher(s, username)
    found = s.get(StudyMember, (study.id, who.id))
    if found is None:
        return False
    s.delete(found)
    s.flush()
    return True


def members(s: Session, study: Study) -> list[tuple[str, str]]:
    """(username, role) of everyone the study is shared with; empty = open to all."""
    rows = s.execute(
        select(Researcher.username, StudyMember.role)
        .join(StudyMember, StudyMember.researcher_id == Researcher.id)
        .where(StudyMember.study_id == study.id)
        .order_by(StudyMember.role.desc(), Researcher.username)
    ).all()
    return [(str(u), str(r)) for u, r in rows]


def _visible(researcher_id: int) -> ColumnElement[bool]:
    """SQL condition: the study is open (no members) or ``researcher_id`` is one."""
    any_member = exists().where(StudyMember.study_id == Study.id)
    is_member = exists().where(
        StudyMember.study_id == Study.id, StudyMember.researcher_id == researcher_id
    )
    return or_(~any_member, is_member)


def visible_studies(s: Session, researcher_id: int) -> Sequence[Study]:
    return s.scalars(select(Study).where(_visible(researcher_id)).order_by(Study.created_at)).all()


def visible_study(s: Session, researcher_id: int, name: str) -> Study | None:
    """The study called ``name`` if this researcher may see it (else None: a 404
    that does not tell whether the study exists)."""
    return s.scalar(select(Study).where(Study.name == name, _visible(researcher_id)))
