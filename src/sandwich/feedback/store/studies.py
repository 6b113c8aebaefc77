"""Studies and raters in the database: create a study, invite raters, let
participants in by PID, completion codes."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Select, String, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sandwich.errors import ConfigError, required
from sandwich.feedback.store.checks import rater_check, stopped_per_condition
from sandwich.feedback.store.db import Assignment, Item, Label, Rater, Study, utcnow
from sandwich.feedback.study_config import StudyConfig
from sandwich.feedback.study_items import study_items


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
        # compared as configs, so a study stored before a field was added (and
        # so without it) matches the same file read with the field's default
        if study_config(existing) == cfg:
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
    rows = [Item(study_id=study.id, **asdict(it)) for it in items]  # StudyItem's fields
    s.add_all(rows)
    s.flush()
    slots = [
        dict(study_id=study.id, item_id=row.id, condition=cond.name, role="main", slot=k)
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


def token_hash(token: str) -> str:
    """What the database keeps of a rater token: its sha256 (the token is random,
    24 bytes, so a plain hash cannot be reversed by guessing)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(rater: Rater) -> str:
    """Give ``rater`` a fresh token (the old one stops working); returns it, in plain,
    for the link: it is not kept anywhere."""
    token = secrets.token_urlsafe(24)
    rater.token_hash = token_hash(token)
    return token


def rater_label(rater_id: int, external_id: str | None) -> str:
    """A rater's id in exports and analyses: ``pid:<PID>`` for the open link,
    ``inv:<number>`` for an invite link (separate namespaces: no PID can
    collide with an invited rater)."""
    return f"pid:{external_id}" if external_id is not None else f"inv:{rater_id}"


def new_rater(
    s: Session, study: Study, external_id: str | None = None, entry_address: str | None = None
) -> tuple[Rater, str]:
    """A new rater and their token (the only time the plain token exists)."""
    cfg = study_config(study)
    rater = Rater(
        study_id=study.id,
        external_id=external_id,
        entry_address=entry_address,
        condition=_next_condition(s, study, cfg),
        created_at=utcnow(),
    )
    token = new_token(rater)
    s.add(rater)
    s.flush()
    return rater, token


def invite(s: Session, study_name: str, n: int) -> list[tuple[Rater, str]]:
    """``n`` new raters, each with a personal token (their invite link)."""
    if n < 1:
        raise ConfigError(f"--n must be at least 1, got {n}")
    study = get_study(s, study_name)
    return [new_rater(s, study) for _ in range(n)]


class EntryRefused(ValueError):
    """A new participant id was refused; the message says why (shown to them)."""


def address_lock_key(entry_address: str) -> int:
    """A client address (already keyed) as a signed 32-bit number, the second key
    of :func:`_lock_address`'s advisory lock: 4 bytes of its sha256 (two
    addresses sharing a number only wait for each other, never miscount)."""
    digest = hashlib.sha256(f"entry:{entry_address}".encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True)


def _lock_address(s: Session, study: Study, entry_address: str) -> None:
    """Serialise new PID raters of one study from one client address (the
    per-address count must not race). On PostgreSQL a transaction-level
    advisory lock on (study, address), released at commit: entries from other
    addresses pass. (It used to be ``SELECT ... FOR UPDATE`` on the study row,
    which conflicts with the key-share lock every insert of a label, an
    assignment or a rater takes on that row through its foreign key, so each
    new rater waited for every open write of the study and stopped all new
    ones.) SQLite transactions are already serial (``BEGIN IMMEDIATE``)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(select(func.pg_advisory_xact_lock(study.id, address_lock_key(entry_address))))


def rater_for_pid(s: Session, study: Study, pid: str, entry_address: str) -> tuple[Rater, str]:
    """The rater who entered with this participant id (made on first entry), with a
    fresh token: the database keeps no plain token to hand out again.

    A new id must match the study's ``entry.pid_pattern``, and one client
    address (``entry_address``, already keyed) makes at most
    ``entry.max_pids_per_address`` new raters; otherwise :class:`EntryRefused`.
    """
    found = s.scalar(select(Rater).where(Rater.study_id == study.id, Rater.external_id == pid))
    if found is not None:
        return found, new_token(found)
    entry = study_config(study).entry
    if not re.fullmatch(entry.pid_pattern, pid):
        raise EntryRefused(
            f"participant id {pid[:40]!r} is not in the form this study expects "
            f"(pattern {entry.pid_pattern}); check the link you were given"
        )
    if entry.max_pids_per_address is not None:
        _lock_address(s, study, entry_address)
        used = s.scalar(
            select(func.count())
            .select_from(Rater)
            .where(Rater.study_id == study.id, Rater.entry_address == entry_address)
        )
        if int(used or 0) >= entry.max_pids_per_address:
            raise EntryRefused(
                "too many participant ids have entered this study from your network address"
            )
    try:
        with s.begin_nested():
            return new_rater(s, study, external_id=pid, entry_address=entry_address)
    except IntegrityError:  # the same PID arrived twice at once
        found = s.scalar(select(Rater).where(Rater.study_id == study.id, Rater.external_id == pid))
        found = required(found, f"rater {pid!r}")
        return found, new_token(found)


def rater_by_token(s: Session, token: str, lock: bool = False) -> Rater | None:
    """The rater holding ``token`` (None: nobody). ``lock``: on PostgreSQL read the
    row ``FOR NO KEY UPDATE``, the lock :func:`~sandwich.feedback.store.assign.next_assignment`
    takes on the rater, in the same round trip as the lookup."""
    if not token:
        return None
    query = _rater_query(lock and s.get_bind().dialect.name == "postgresql")
    return s.scalar(query, {"the_token_hash": token_hash(token)})


@functools.cache
def _rater_query(lock: bool) -> Select[Rater]:
    """:func:`rater_by_token`'s statement, built once per process (every request of
    a rater runs it; building it cost more than running it)."""
    query = select(Rater).where(Rater.token_hash == bindparam("the_token_hash", type_=String))
    return query.with_for_update(key_share=True) if lock else query


def completion_code(secret: str, study: Study, rater_id: int) -> str:
    """The rater's own completion code: the study's code, a dash and 10 characters of
    an HMAC of (study, rater) under the server secret. Another rater's code, or
    the study's alone, is of no use to a participant; the researcher checks a
    code with :func:`verify_code` (``sandwich study verify-code``)."""
    mac = hmac.new(secret.encode(), f"completion:{study.name}:{rater_id}".encode(), "sha256")
    tail = base64.b32encode(mac.digest()).decode()[:10]
    return f"{study.completion_code}-{tail}"


@dataclass(frozen=True)
class CodeCheck:
    """What a completion code says: whose it is and whether they earned it."""

    code: str
    rater: str | None  # rater_label, None: not a code of this study
    finished: bool = False
    passed: bool = False
    stopped: str = ""  # screened out or excluded by the study's checks (why); "" if not

    @property
    def earned(self) -> bool:
        """The code is one the rater was shown: theirs, finished, passed, not stopped."""
        return self.rater is not None and self.finished and self.passed and not self.stopped


def gold_passed(s: Session, rater_id: int, threshold: float) -> bool:
    """At least ``threshold`` of the rater's gold labels right (no gold labels: passed)."""
    rows = s.execute(
        select(Label.answer, Item.gold)
        .join(Item, Item.id == Label.item_id)
        .where(Label.rater_id == rater_id, Label.is_gold)
    ).all()
    n_right = sum(bool(a) == bool(g) for a, g in rows)
    return not rows or n_right / len(rows) >= threshold


def verify_code(s: Session, secret: str, study: Study, code: str) -> CodeCheck:
    """Which rater of ``study`` the completion ``code`` belongs to, and whether that
    rater finished, passed the gold checks and was not screened out or excluded by
    the study's checks (the code is shown only then)."""
    threshold = study_config(study).gold.pass_threshold
    code = code.strip()
    for rater in s.scalars(select(Rater).where(Rater.study_id == study.id)).all():
        if hmac.compare_digest(completion_code(secret, study, rater.id), code):
            return CodeCheck(
                code,
                rater_label(rater.id, rater.external_id),
                finished=rater.finished_at is not None,
                passed=gold_passed(s, rater.id, threshold),
                stopped=_stopped_reason(s, rater),
            )
    return CodeCheck(code, None)


def _stopped_reason(s: Session, rater: Rater) -> str:
    """Why the study's checks stopped the rater ("" if they did not)."""
    row = rater_check(s, rater)
    if row is None:
        return ""
    if row.screened_out_at is not None:
        return "screened out (comprehension)"
    if row.excluded_at is not None:
        return f"excluded: {row.excluded_reason}"
    return ""


def study_truth(s: Session, study: Study) -> dict[str, bool]:
    """Statement text -> gold answer, for simulated raters (never sent to a rater)."""
    return dict(s.execute(select(Item.text, Item.gold).where(Item.study_id == study.id)).all())
