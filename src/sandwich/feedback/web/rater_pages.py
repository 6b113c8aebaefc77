"""The rater's pages: entry by invite token or ?PID=, items, feedback, the end.

Every route needs the rater's token (the database keeps only its sha256); a
rater reaches only their own assignments, named by their random key. Forms
carry an HMAC of the token (CSRF). A label is committed before the redirect
that moves the rater on. Only training items get feedback: after a gold item
the rater moves on exactly as after a main item.

With the study's checks: the comprehension questions gate the items (a rater
who fails them is screened out), an attention answer may exclude the rater
(no completion code), and an answer after an enforced time limit is stored as
timed out and its main slot released.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from sandwich.errors import required
from sandwich.feedback.assistance import shown_assistance
from sandwich.feedback.pairs import canonical_answer, pair_swapped, shown_pair
from sandwich.feedback.store.answers import (
    PAIR_CHOICES,
    STATEMENT_CHOICES,
    AnswerError,
    Outcome,
    parse_answer,
    record_answer,
)
from sandwich.feedback.store.assign import next_assignment, progress_of, rater_assignments
from sandwich.feedback.store.checks import (
    ATTENTION,
    after_attention_answer,
    comprehension_pending,
    excluded,
    grade_comprehension,
    rater_check,
    release_slot,
    screened_out,
)
from sandwich.feedback.store.db import Assignment, Item, Label, Rater, Study, utcnow
from sandwich.feedback.store.studies import (
    EntryRefused,
    completion_code,
    gold_passed,
    rater_by_token,
    rater_for_pid,
    study_config,
)
from sandwich.feedback.study_config import StudyConfig
from sandwich.feedback.web.security import rater_csrf, same
from sandwich.feedback.web.shared import Page, Web, not_found, page_of

TRUSTED_PROXIES_ENV = "SANDWICH_TRUSTED_PROXIES"


def trusted_proxies() -> frozenset[str]:
    """Addresses of reverse proxies whose ``X-Forwarded-For`` is believed
    (``$SANDWICH_TRUSTED_PROXIES``, comma-separated; default none)."""
    raw = os.environ.get(TRUSTED_PROXIES_ENV, "")
    return frozenset(a.strip() for a in raw.split(",") if a.strip())


def client_address(request: Request, trusted: frozenset[str]) -> str:
    """The participant's address: the connection's peer, or, when the peer is a
    trusted proxy, the right-most ``X-Forwarded-For`` hop that is not one."""
    peer = request.client.host if request.client else ""
    if peer not in trusted:
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",")]
    for hop in reversed([h for h in hops if h]):
        if hop not in trusted:
            return hop
    return peer


def rater_routes(web: Web) -> APIRouter:
    """Every rater route: entry, the rater's pages, and the forms they send."""
    router = APIRouter()
    _entry_routes(router, web, trusted_proxies())
    _page_routes(router, web)
    _form_routes(router, web)
    return router


def rater_of(s: Session, token: str, lock: bool = False) -> Rater:
    """The rater holding ``token``; any other token is a 404. ``lock``: take the
    rater's row as :func:`next_assignment` would (PostgreSQL), in the same statement."""
    rater = rater_by_token(s, token, lock=lock)
    if rater is None:
        raise not_found()
    return rater


def _check_csrf(web: Web, token: str, csrf: str) -> None:
    if not same(csrf, rater_csrf(web.secret, token)):
        raise HTTPException(403, "this form has expired; reload the page")


def _entry_routes(router: APIRouter, web: Web, proxies: frozenset[str]) -> None:
    def address_key(request: Request) -> str:
        """The client address keyed with the server secret: the per-address cap
        needs equality only, so the database never holds the address itself."""
        addr = client_address(request, proxies)
        return hmac.new(web.secret.encode(), f"address:{addr}".encode(), hashlib.sha256).hexdigest()

    @router.get("/s/{study_name}/start")
    def pid_entry(study_name: str, request: Request) -> Response:
        pid = request.query_params.get("PID") or request.query_params.get("PROLIFIC_PID")
        if not pid or len(pid) > 128:
            raise HTTPException(400, "this link needs a participant id: ?PID=<your id>")
        with web.tx() as s:
            study = s.scalar(select(Study).where(Study.name == study_name))
            if study is None or not study_config(study).allow_pid_entry:
                raise not_found()
            try:
                _, token = rater_for_pid(s, study, pid, address_key(request))
            except EntryRefused as exc:
                raise HTTPException(403, str(exc)) from None
        return RedirectResponse(f"/r/{token}", status_code=303)

    @router.post("/r/{token}/start")
    def rater_start(token: str, csrf: Annotated[str, Form()] = "") -> Response:
        _check_csrf(web, token, csrf)
        with web.tx() as s:
            rater = rater_of(s, token)
            if rater.started_at is None:
                rater.started_at = utcnow()
        return RedirectResponse(f"/r/{token}", status_code=303)


def _page_routes(router: APIRouter, web: Web) -> None:
    @router.get("/r/{token}", response_class=HTMLResponse)
    def rater_page(token: str, late: str = "") -> HTMLResponse:
        with web.tx() as s:  # committed (a claimed slot, finished_at) before it is sent
            rater = rater_of(s, token, lock=True)  # next_assignment's lock, one trip
            page = _next_page(web, s, rater, token, late=bool(late))
        return web.render(page)  # outside the transaction: the next writer need not wait

    @router.get("/r/{token}/feedback/{key}", response_class=HTMLResponse)
    def rater_feedback(token: str, key: Annotated[str, Path(max_length=64)]) -> HTMLResponse:
        with web.tx() as s:
            rater = rater_of(s, token)
            row = s.execute(
                select(Assignment, Label, Item)
                .join(Label, Label.assignment_id == Assignment.id)
                .join(Item, Item.id == Assignment.item_id)
                .where(
                    Assignment.key == key,
                    Assignment.rater_id == rater.id,
                    Assignment.role == "training",
                )
            ).first()
            if row is None:  # main and gold items never get feedback; nor unanswered ones
                raise not_found()
            a, label, item = row
            swapped = bool(label.swapped)
            page = page_of(
                "rater_feedback.html",
                cfg=web.config(s, rater.study_id),
                token=token,
                text=item.text,
                correct=label.answer == item.gold,
                gold=item.gold,
                answer=label.answer,
                training=a.role == "training",
                pair=shown_pair(item.pair, swapped) if item.pair else None,
                # the shown position (1 or 2) of the rater's pick and of the better one
                picked=1 + (label.answer == swapped),
                better=1 + (item.gold == swapped),
            )
        return web.render(page)


def _next_page(web: Web, s: Session, rater: Rater, token: str, late: bool) -> Page:
    """The rater's page now: the start, the checks, their next item or the end.
    ``rater`` was read with its lock (:func:`rater_of` ``lock=True``); their
    assignments are read once, for the next item and the progress bar."""
    cfg = web.config(s, rater.study_id)
    csrf = rater_csrf(web.secret, token)
    if rater.started_at is None:
        return page_of("rater_start.html", cfg=cfg, token=token, csrf=csrf)
    gate = _checks_gate(web, s, rater, cfg, token, csrf)
    if gate is not None:  # comprehension questions first, or screened out
        return gate
    mine = [] if rater.finished_at else rater_assignments(s, rater)
    a = None if rater.finished_at else next_assignment(s, rater, cfg, locked=True, mine=mine)
    if a is None:
        if rater.finished_at is None:
            rater.finished_at = utcnow()
        study = required(s.get(Study, rater.study_id), "the rater's study")
        return page_of("rater_done.html", cfg=cfg, **_outcome(web, s, rater, study, cfg))
    item = required(s.get(Item, a.item_id), f"item {a.item_id} of assignment {a.key}")
    done, total = progress_of(mine, cfg)
    pair = None
    if item.pair is not None:  # shown in this rater's order (stored with the answer)
        pair = shown_pair(item.pair, pair_swapped(cfg.seed, item.key, a.slot, rater.id))
    return page_of(
        "rater_item.html",
        cfg=cfg,
        token=token,
        csrf=csrf,
        assignment=a,
        text=item.text,
        pair=pair,
        assistance=shown_assistance(
            item.assistance.get(a.condition), cfg.seed, item.key, a.slot, rater.id
        ),
        training=a.role == "training",
        done=done,
        total=total,
        seconds_left=seconds_left(a, cfg),
        late_notice=late and cfg.enforce_time_limit,
    )


def _outcome(web: Web, s: Session, rater: Rater, study: Study, cfg: StudyConfig) -> dict[str, Any]:
    passed = gold_passed(s, rater.id, cfg.gold.pass_threshold)
    out = excluded(s, rater)  # failed the attention checks: no code either
    ok = passed and not out
    return {
        "passed": ok,
        "code": completion_code(web.secret, study, rater.id) if ok else None,
        "excluded": out,
    }


def _form_routes(router: APIRouter, web: Web) -> None:
    @router.post("/r/{token}/answer")
    def rater_answer(
        token: str,
        assignment_id: Annotated[str, Form(max_length=64)],
        answer: Annotated[str, Form()] = "",
        confidence: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        _check_csrf(web, token, csrf)
        # a malformed form is refused before the database (a statement's choices
        # or a pair's; which of the two the item takes is checked below)
        choices = PAIR_CHOICES if answer in PAIR_CHOICES else STATEMENT_CHOICES
        if answer not in choices:
            raise HTTPException(
                422,
                "answer must be 'true' or 'false' (a pairwise item: 'first' or 'second'), "
                f"got {answer[:20]!r}",
            )
        try:
            picked, conf, why = parse_answer(answer, confidence, reason, choices)
        except AnswerError as exc:
            raise HTTPException(422, str(exc)) from None
        with web.tx() as s:  # committed when the block ends, before the redirect is sent
            rater = rater_of(s, token)
            cfg = web.config(s, rater.study_id)
            if (choices is PAIR_CHOICES) != cfg.is_pairwise:  # "first" on a statement, ...
                right = PAIR_CHOICES if cfg.is_pairwise else STATEMENT_CHOICES
                raise HTTPException(
                    422, f"answer must be {right[0]!r} or {right[1]!r}, got {answer!r}"
                )
            swapped = _swapped(s, rater, cfg, assignment_id) if cfg.is_pairwise else None
            if swapped is not None:  # the pick as shown -> "A is better"
                picked = canonical_answer(answer, swapped)
            limit = float(cfg.time_limit_seconds) if cfg.enforce_time_limit else None
            outcome, a = record_answer(
                s, rater, assignment_id, picked, conf, why, enforced_limit=limit, swapped=swapped
            )
            if a is not None:
                role: str | None = a.role
                after_answer(s, rater, cfg, a, outcome)
            else:  # stored before (the feedback page again) or not the rater's
                role = s.scalar(
                    select(Assignment.role).where(
                        Assignment.key == assignment_id, Assignment.rater_id == rater.id
                    )
                )
        target = f"/r/{token}?late=1" if outcome is Outcome.TIMED_OUT else f"/r/{token}"
        if outcome is not Outcome.GONE and role == "training":
            target = f"/r/{token}/feedback/{assignment_id}"
        response = RedirectResponse(target, status_code=303)
        response.headers["X-Sandwich-Label"] = outcome.value
        return response

    @router.post("/r/{token}/comprehension")
    async def rater_comprehension(token: str, request: Request) -> Response:
        form = await request.form()
        _check_csrf(web, token, str(form.get("csrf", "")))
        answers = {k: str(v) for k, v in form.items() if k.startswith("q")}
        return await run_in_threadpool(_grade, web, token, answers)  # the database off the loop


def _swapped(s: Session, rater: Rater, cfg: StudyConfig, key: str) -> bool | None:
    """Whether the rater's assignment ``key`` showed B first (None: not theirs)."""
    row = s.execute(
        select(Item.key, Assignment.slot)
        .join(Item, Item.id == Assignment.item_id)
        .where(Assignment.key == key, Assignment.rater_id == rater.id)
    ).first()
    return None if row is None else pair_swapped(cfg.seed, row[0], row[1], rater.id)


def _grade(web: Web, token: str, answers: dict[str, str]) -> Response:
    with web.tx() as s:  # committed before the redirect is sent
        rater = rater_of(s, token)
        cfg = web.config(s, rater.study_id)
        if rater.started_at is None or not cfg.comprehension.questions:
            return RedirectResponse(f"/r/{token}", status_code=303)
        result, _left = grade_comprehension(s, rater, cfg, answers)
    response = RedirectResponse(f"/r/{token}", status_code=303)
    response.headers["X-Sandwich-Comprehension"] = result.value
    return response


# --- crowd-study checks (comprehension gate, time left, after an answer) ---------------


def _checks_gate(
    web: Web, s: Session, rater: Rater, cfg: StudyConfig, token: str, csrf: str
) -> Page | None:
    """The comprehension page (not passed yet) or the screened-out page; None: go on."""
    if not cfg.comprehension.questions:  # only they screen raters out: nothing to read
        return None
    if screened_out(s, rater):
        return page_of("rater_screened.html", cfg=cfg)
    if comprehension_pending(s, rater, cfg):
        row = rater_check(s, rater)
        tries = row.comprehension_attempts if row is not None else 0
        return page_of(
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
    s: Session, rater: Rater, cfg: StudyConfig, a: Assignment, outcome: Outcome
) -> None:
    """A timed-out main answer gives its slot back; an attention answer applies the
    exclusion rule (which may stop the rater). ``a``: the answered assignment."""
    if outcome not in (Outcome.SAVED, Outcome.TIMED_OUT):
        return
    if outcome is Outcome.TIMED_OUT and a.role == "main":
        release_slot(s, a.item_id, a.condition, a.study_id)
    if a.role == ATTENTION:
        after_attention_answer(s, rater, cfg)
