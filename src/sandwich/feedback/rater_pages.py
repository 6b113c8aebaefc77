"""The rater's pages: entry by invite token or ?PID=, items, feedback, the end.

Every route needs the rater's token; a rater reaches only their own
assignments. Forms carry an HMAC of the token (CSRF). A label is committed
before the redirect that moves the rater on.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from sandwich.feedback.assign import next_assignment, progress
from sandwich.feedback.checks import (
    ATTENTION,
    after_attention_answer,
    comprehension_pending,
    excluded,
    grade_comprehension,
    rater_check,
    release_slot,
    screened_out,
)
from sandwich.feedback.db import Assignment, Item, Label, Rater, Study, utcnow
from sandwich.feedback.security import rater_csrf, same
from sandwich.feedback.studies import rater_for_pid, study_config
from sandwich.feedback.study import StudyConfig
from sandwich.feedback.submit import AnswerError, Outcome, parse_answer, record
from sandwich.feedback.web import Web, not_found


def rater_routes(web: Web) -> APIRouter:
    router = APIRouter()

    def rater_of(s: Session, token: str) -> Rater:
        rater = s.scalar(select(Rater).where(Rater.token == token)) if token else None
        if rater is None:
            raise not_found()
        return rater

    @router.get("/s/{study_name}/start")
    def pid_entry(study_name: str, request: Request) -> Response:
        pid = request.query_params.get("PID") or request.query_params.get("PROLIFIC_PID")
        if not pid or len(pid) > 128:
            raise HTTPException(400, "this link needs a participant id: ?PID=<your id>")
        with web.tx() as s:
            study = s.scalar(select(Study).where(Study.name == study_name))
            if study is None or not study_config(study).allow_pid_entry:
                raise not_found()
            rater = rater_for_pid(s, study, pid)
            token = rater.token
        return RedirectResponse(f"/r/{token}", status_code=303)

    @router.get("/r/{token}", response_class=HTMLResponse)
    def rater_page(token: str, late: str = "") -> HTMLResponse:
        with web.tx() as s:
            rater = rater_of(s, token)
            study = s.get(Study, rater.study_id)
            assert study is not None
            cfg = study_config(study)
            csrf = rater_csrf(web.secret, token)
            if rater.started_at is None:
                return web.page("rater_start.html", cfg=cfg, token=token, csrf=csrf)
            gate = _checks_gate(web, s, rater, cfg, token, csrf)
            if gate is not None:  # comprehension questions first, or screened out
                return gate
            a = None if rater.finished_at else next_assignment(s, rater, cfg)
            if a is None:
                if rater.finished_at is None:
                    rater.finished_at = utcnow()
                return web.page("rater_done.html", cfg=cfg, **_outcome(s, rater, study))
            item = s.get(Item, a.item_id)
            assert item is not None
            done, total = progress(s, rater, cfg)
            return web.page(
                "rater_item.html",
                cfg=cfg,
                token=token,
                csrf=csrf,
                assignment=a,
                text=item.text,
                assistance=item.assistance.get(a.condition),
                training=a.role == "training",
                done=done,
                total=total,
                seconds_left=seconds_left(a, cfg),
                late_notice=bool(late) and cfg.enforce_time_limit,
            )

    @router.post("/r/{token}/start")
    def rater_start(token: str, csrf: Annotated[str, Form()] = "") -> Response:
        if not same(csrf, rater_csrf(web.secret, token)):
            raise HTTPException(403, "this form has expired; reload the page")
        with web.tx() as s:
            rater = rater_of(s, token)
            if rater.started_at is None:
                rater.started_at = utcnow()
        return RedirectResponse(f"/r/{token}", status_code=303)

    @router.post("/r/{token}/answer")
    def rater_answer(
        token: str,
        assignment_id: Annotated[int, Form()],
        answer: Annotated[str, Form()] = "",
        confidence: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        if not same(csrf, rater_csrf(web.secret, token)):
            raise HTTPException(403, "this form has expired; reload the page")
        try:
            parsed = parse_answer(answer, confidence, reason)
        except AnswerError as exc:
            raise HTTPException(422, str(exc)) from None
        with web.tx() as s:  # committed when the block ends, before the redirect is sent
            rater = rater_of(s, token)
            study = s.get(Study, rater.study_id)
            assert study is not None
            cfg = study_config(study)
            limit = float(cfg.time_limit_seconds) if cfg.enforce_time_limit else None
            outcome = record(s, rater, assignment_id, *parsed, enforced_limit=limit)
            role = s.scalar(
                select(Assignment.role).where(
                    Assignment.id == assignment_id, Assignment.rater_id == rater.id
                )
            )
            after_answer(s, rater, cfg, assignment_id, role, outcome)
        target = f"/r/{token}?late=1" if outcome is Outcome.TIMED_OUT else f"/r/{token}"
        if outcome is not Outcome.GONE and role in ("training", "gold"):
            target = f"/r/{token}/feedback/{assignment_id}"
        response = RedirectResponse(target, status_code=303)
        response.headers["X-Sandwich-Label"] = outcome.value
        return response

    @router.get("/r/{token}/feedback/{assignment_id}", response_class=HTMLResponse)
    def rater_feedback(token: str, assignment_id: int) -> HTMLResponse:
        with web.tx() as s:
            rater = rater_of(s, token)
            row = s.execute(
                select(Assignment, Label, Item)
                .join(Label, Label.assignment_id == Assignment.id)
                .join(Item, Item.id == Assignment.item_id)
                .where(
                    Assignment.id == assignment_id,
                    Assignment.rater_id == rater.id,
                    Assignment.role.in_(("training", "gold")),
                )
            ).first()
            if row is None:  # main items never get feedback; nor unanswered ones
                raise not_found()
            a, label, item = row
            study = s.get(Study, rater.study_id)
            assert study is not None
            return web.page(
                "rater_feedback.html",
                cfg=study_config(study),
                token=token,
                text=item.text,
                correct=label.answer == item.gold,
                gold=item.gold,
                answer=label.answer,
                training=a.role == "training",
            )

    def _outcome(s: Session, rater: Rater, study: Study) -> dict[str, Any]:
        cfg = study_config(study)
        rows = s.execute(
            select(Label.answer, Item.gold)
            .join(Item, Item.id == Label.item_id)
            .where(Label.rater_id == rater.id, Label.is_gold)
        ).all()
        n_right = sum(bool(a) == bool(g) for a, g in rows)
        passed = not rows or n_right / len(rows) >= cfg.gold.pass_threshold
        out = excluded(s, rater)  # failed the attention checks: no code either
        return {
            "passed": passed and not out,
            "code": study.completion_code if passed and not out else None,
            "excluded": out,
        }

    @router.post("/r/{token}/comprehension")
    async def rater_comprehension(token: str, request: Request) -> Response:
        form = await request.form()
        if not same(str(form.get("csrf", "")), rater_csrf(web.secret, token)):
            raise HTTPException(403, "this form has expired; reload the page")
        answers = {k: str(v) for k, v in form.items() if k.startswith("q")}
        return await run_in_threadpool(grade, token, answers)  # the database off the loop

    def grade(token: str, answers: dict[str, str]) -> Response:
        with web.tx() as s:  # committed before the redirect is sent
            rater = rater_of(s, token)
            study = s.get(Study, rater.study_id)
            assert study is not None
            cfg = study_config(study)
            if rater.started_at is None or not cfg.comprehension.questions:
                return RedirectResponse(f"/r/{token}", status_code=303)
            result, _left = grade_comprehension(s, rater, cfg, answers)
        response = RedirectResponse(f"/r/{token}", status_code=303)
        response.headers["X-Sandwich-Comprehension"] = result.value
        return response

    return router


# --- crowd-study checks (comprehension gate, time left, after an answer) ---------------


def _checks_gate(
    web: Web, s: Session, rater: Rater, cfg: StudyConfig, token: str, csrf: str
) -> HTMLResponse | None:
    """The comprehension page (not passed yet) or the screened-out page; None: go on."""
    if screened_out(s, rater):
        return web.page("rater_screened.html", cfg=cfg)
    if comprehension_pending(s, rater, cfg):
        row = rater_check(s, rater)
        tries = row.comprehension_attempts if row is not None else 0
        return web.page(
            "rater_comprehension.html",
            cfg=cfg,
            token=token,
            csrf=csrf,
            tried=tries,
            left=cfg.comprehension.attempts - tries,
        )
    return None


def seconds_left(a: Assignment, cfg: StudyConfig) -> int:
    """Seconds of the item's time limit left, by the server's clock (from assigned_at):
    a reload does not restart the countdown."""
    if a.assigned_at is None:
        return cfg.time_limit_seconds
    used = (utcnow() - a.assigned_at).total_seconds()
    return max(0, round(cfg.time_limit_seconds - used))


def after_answer(
    s: Session,
    rater: Rater,
    cfg: StudyConfig,
    assignment_id: int,
    role: str | None,
    outcome: Outcome,
) -> None:
    """A timed-out main answer gives its slot back; an attention answer applies the
    exclusion rule (which may stop the rater)."""
    if outcome not in (Outcome.SAVED, Outcome.TIMED_OUT):
        return
    if outcome is Outcome.TIMED_OUT and role == "main":
        a = s.get(Assignment, assignment_id)
        assert a is not None
        release_slot(s, a.item_id, a.condition, a.study_id)
    if role == ATTENTION:
        after_attention_answer(s, rater, cfg)
