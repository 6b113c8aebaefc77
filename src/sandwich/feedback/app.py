"""The web app: rater pages and the researcher dashboard (FastAPI, Jinja2).

Raters reach only their own pages, through the personal token in their link
(``/r/<token>``) or the open entry ``/s/<study>/start?PID=<id>``. Researchers
log in with a password (argon2) and get a signed session cookie. Every form
carries a CSRF token; every page escapes what it shows (Jinja2 autoescape),
and a Content-Security-Policy allows only the app's own script file.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.middleware.sessions import SessionMiddleware

from sandwich.feedback.assign import next_assignment, progress
from sandwich.feedback.db import Assignment, Item, Label, Rater, Study, session_factory, utcnow
from sandwich.feedback.migrate import ensure_secret, migrate
from sandwich.feedback.security import LoginThrottle, authenticate, rater_csrf, same
from sandwich.feedback.status import fmt, labels_frame, study_overview, study_status
from sandwich.feedback.studies import rater_for_pid, study_config
from sandwich.feedback.submit import AnswerError, Outcome, parse_answer, record

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # rater tokens live in URLs: never leak them
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def _templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["fmt"] = fmt
    return env


def create_app(db_url: str | None = None, *, run_migrations: bool = True) -> FastAPI:
    """The app on the database at ``db_url`` (default: ``$SANDWICH_DB`` or SQLite in
    ``$SANDWICH_HOME``); migrations are applied first unless ``run_migrations=False``."""
    from sandwich.feedback.db import make_engine

    engine = migrate(db_url) if run_migrations else make_engine(db_url)
    secret = ensure_secret(engine)
    Sessions = session_factory(engine)
    env = _templates()
    app = FastAPI(title="sandwich studies", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie="sandwich_session",
        same_site="lax",
        max_age=8 * 3600,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.state.engine = engine

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    @contextmanager
    def tx() -> Iterator[Session]:
        with Sessions.begin() as s:
            yield s

    def page(name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**ctx), status_code=status_code)

    def not_found() -> HTTPException:
        return HTTPException(404, "not found")

    def rater_of(s: Session, token: str) -> Rater:
        rater = s.scalar(select(Rater).where(Rater.token == token)) if token else None
        if rater is None:
            raise not_found()
        return rater

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        return page("error.html", exc.status_code, message=str(exc.detail))

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok"

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return page("index.html")

    # ---------------------------------------------------------------- raters

    @app.get("/s/{study_name}/start")
    def pid_entry(study_name: str, request: Request) -> Response:
        pid = request.query_params.get("PID") or request.query_params.get("PROLIFIC_PID")
        if not pid or len(pid) > 128:
            raise HTTPException(400, "this link needs a participant id: ?PID=<your id>")
        with tx() as s:
            study = s.scalar(select(Study).where(Study.name == study_name))
            if study is None or not study_config(study).allow_pid_entry:
                raise not_found()
            rater = rater_for_pid(s, study, pid)
            token = rater.token
        return RedirectResponse(f"/r/{token}", status_code=303)

    @app.get("/r/{token}", response_class=HTMLResponse)
    def rater_page(token: str) -> HTMLResponse:
        with tx() as s:
            rater = rater_of(s, token)
            study = s.get(Study, rater.study_id)
            assert study is not None
            cfg = study_config(study)
            csrf = rater_csrf(secret, token)
            if rater.started_at is None:
                return page("rater_start.html", cfg=cfg, token=token, csrf=csrf)
            a = None if rater.finished_at else next_assignment(s, rater, cfg)
            if a is None:
                if rater.finished_at is None:
                    rater.finished_at = utcnow()
                return page("rater_done.html", cfg=cfg, **_outcome(s, rater, study))
            item = s.get(Item, a.item_id)
            assert item is not None
            done, total = progress(s, rater, cfg)
            return page(
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
            )

    @app.post("/r/{token}/start")
    def rater_start(token: str, csrf: Annotated[str, Form()] = "") -> Response:
        if not same(csrf, rater_csrf(secret, token)):
            raise HTTPException(403, "this form has expired; reload the page")
        with tx() as s:
            rater = rater_of(s, token)
            if rater.started_at is None:
                rater.started_at = utcnow()
        return RedirectResponse(f"/r/{token}", status_code=303)

    @app.post("/r/{token}/answer")
    def rater_answer(
        token: str,
        assignment_id: Annotated[int, Form()],
        answer: Annotated[str, Form()] = "",
        confidence: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        if not same(csrf, rater_csrf(secret, token)):
            raise HTTPException(403, "this form has expired; reload the page")
        try:
            parsed = parse_answer(answer, confidence, reason)
        except AnswerError as exc:
            raise HTTPException(422, str(exc)) from None
        with tx() as s:  # committed when the block ends, before the redirect is sent
            rater = rater_of(s, token)
            outcome = record(s, rater, assignment_id, *parsed)
            role = s.scalar(
                select(Assignment.role).where(
                    Assignment.id == assignment_id, Assignment.rater_id == rater.id
                )
            )
        target = f"/r/{token}"
        if outcome is not Outcome.GONE and role in ("training", "gold"):
            target = f"/r/{token}/feedback/{assignment_id}"
        response = RedirectResponse(target, status_code=303)
        response.headers["X-Sandwich-Label"] = outcome.value
        return response

    @app.get("/r/{token}/feedback/{assignment_id}", response_class=HTMLResponse)
    def rater_feedback(token: str, assignment_id: int) -> HTMLResponse:
        with tx() as s:
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
            return page(
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
        return {"passed": passed, "code": study.completion_code if passed else None}

    # ----------------------------------------------------------- researchers

    throttle = LoginThrottle()

    def csrf_of(request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = request.session["csrf"] = secrets.token_urlsafe(24)
        return str(token)

    def researcher(request: Request) -> str:
        user = request.session.get("researcher")
        if not user:
            raise HTTPException(401, "log in first: /login")
        return str(user)

    @app.exception_handler(401)
    async def _login_first(request: Request, exc: HTTPException) -> Response:
        if request.method == "GET":
            return RedirectResponse("/login", status_code=303)
        return page("error.html", 401, message=str(exc.detail))

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> HTMLResponse:
        return page("login.html", csrf=csrf_of(request), error=None)

    @app.post("/login")
    def login(
        request: Request,
        username: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        if not same(csrf, request.session.get("csrf")):
            raise HTTPException(403, "this form has expired; reload the page")
        if throttle.blocked(username):
            return page(
                "login.html",
                429,
                csrf=csrf_of(request),
                error="too many failed logins for this user: try again in a few minutes",
            )
        with tx() as s:
            user = authenticate(s, username, password)
        if user is None:
            throttle.failed(username)
            return page(
                "login.html", 401, csrf=csrf_of(request), error="wrong username or password"
            )
        throttle.succeeded(username)
        request.session.clear()  # a fresh session on login
        request.session["researcher"] = user.username
        request.session["csrf"] = secrets.token_urlsafe(24)
        return RedirectResponse("/dashboard", status_code=303)

    @app.post("/logout")
    def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
        if not same(csrf, request.session.get("csrf")):
            raise HTTPException(403, "this form has expired; reload the page")
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/dashboard", response_class=HTMLResponse)
    def dashboard(request: Request) -> HTMLResponse:
        user = researcher(request)
        with tx() as s:
            studies = s.scalars(select(Study).order_by(Study.created_at)).all()
            rows = [(st.name, study_overview(s, st)) for st in studies]
        return page("dashboard.html", user=user, rows=rows, csrf=csrf_of(request))

    def _study(s: Session, name: str) -> Study:
        study = s.scalar(select(Study).where(Study.name == name))
        if study is None:
            raise not_found()
        return study

    @app.get("/dashboard/{name}", response_class=HTMLResponse)
    def dashboard_study(request: Request, name: str) -> HTMLResponse:
        user = researcher(request)
        with tx() as s:
            st = study_status(s, _study(s, name))
        return page("dashboard_study.html", user=user, st=st, csrf=csrf_of(request))

    @app.get("/dashboard/{name}/plot.png")
    def dashboard_plot(request: Request, name: str) -> Response:
        researcher(request)
        from sandwich.feedback.plots import study_plot

        with tx() as s:
            st = study_status(s, _study(s, name), n_boot=200)
        return Response(study_plot(st), media_type="image/png")

    @app.get("/dashboard/{name}/labels.csv")
    def dashboard_csv(request: Request, name: str) -> Response:
        researcher(request)
        with tx() as s:
            frame = labels_frame(s, _study(s, name))
        buf = io.StringIO()
        frame.to_csv(buf, index=False)
        return Response(
            buf.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}-labels.csv"'},
        )

    return app
