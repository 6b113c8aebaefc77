"""The web app: rater pages and the researcher dashboard (FastAPI, Jinja2).

Raters reach only their own pages, through the personal token in their link
(``/r/<token>``) or the open entry ``/s/<study>/start?PID=<id>``
(:mod:`~sandwich.feedback.web.rater_pages`). Researchers log in with a password
(argon2) and get a signed session cookie
(:mod:`~sandwich.feedback.web.researcher_pages`). Every form carries a CSRF token;
every page escapes what it shows (Jinja2 autoescape), and a
Content-Security-Policy allows only the app's own script file. The outermost
layer (:mod:`~sandwich.feedback.web.hardening`) caps request bodies, adds the
security headers to every response and turns unhandled errors into a plain
500 page.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from starlette.middleware.sessions import SessionMiddleware

from sandwich.config import env_int
from sandwich.feedback.store.db import pool_size, session_factory, writer_queue
from sandwich.feedback.store.migrate import ensure_secret, migrate
from sandwich.feedback.web.hardening import DEFAULT_MAX_BODY, SECURITY_HEADERS, Hardening
from sandwich.feedback.web.rater_pages import rater_routes
from sandwich.feedback.web.researcher_pages import researcher_routes
from sandwich.feedback.web.security import LoginThrottle
from sandwich.feedback.web.shared import HERE, Web, templates

__all__ = ["SECURITY_HEADERS", "create_app", "env_flag", "env_max_body"]


def env_flag(name: str) -> bool:
    """A yes/no environment variable (1/true/yes/on, any case)."""
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def env_max_body() -> int:
    """``$SANDWICH_MAX_BODY`` (bytes, at least 1024) or 64 KB."""
    return env_int("SANDWICH_MAX_BODY", DEFAULT_MAX_BODY, 1024, "bytes")


def create_app(
    db_url: str | None = None,
    *,
    run_migrations: bool = True,
    https_only: bool | None = None,
    max_body: int | None = None,
    login_throttle: LoginThrottle | None = None,
) -> FastAPI:
    """The app on the database at ``db_url`` (default: ``$SANDWICH_DB`` or SQLite in
    ``$SANDWICH_HOME``); migrations are applied first unless ``run_migrations=False``.

    ``https_only`` (default ``$SANDWICH_HTTPS_ONLY``) marks the session cookie
    ``Secure`` and sends HSTS: for a server behind a TLS proxy. ``max_body``
    (default ``$SANDWICH_MAX_BODY`` or 64 KB) caps every request body.
    """
    from sandwich.feedback.store.db import make_engine

    https_only = env_flag("SANDWICH_HTTPS_ONLY") if https_only is None else https_only
    max_body = env_max_body() if max_body is None else max_body
    engine = migrate(db_url) if run_migrations else make_engine(db_url)
    web = Web(session_factory(engine), ensure_secret(engine), templates(), writer_queue(engine))
    app = FastAPI(
        title="sandwich studies",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=_request_threads(engine),
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=web.secret,
        session_cookie="sandwich_session",
        same_site="lax",
        max_age=8 * 3600,
        https_only=https_only,
    )
    app.add_middleware(Hardening, max_body=max_body, https_only=https_only)  # outermost
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.state.engine = engine
    app.state.login_throttle = LoginThrottle() if login_throttle is None else login_throttle

    _error_pages(app, web)

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok"

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return web.page("index.html")

    app.include_router(rater_routes(web))
    app.include_router(researcher_routes(web, app.state.login_throttle))
    return app


def _request_threads(engine: Engine) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: on PostgreSQL, as many request threads (anyio's default
    limiter, 40 threads) as the pool has connections, so a request never
    waits for, or opens, a connection beyond the pool; the others wait their
    turn on the event loop. SQLite's transactions already take turns on the
    writer queue (one connection in use per process)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if engine.dialect.name == "postgresql":
            to_thread.current_default_thread_limiter().total_tokens = pool_size()
        yield

    return lifespan


def _error_pages(app: FastAPI, web: Web) -> None:
    """Every error as the app's plain error page; a 401 on a GET goes to the login."""

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        return web.page("error.html", exc.status_code, message=str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> Response:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}"
            for e in exc.errors()[:3]
        )
        return web.page("error.html", 422, message=f"bad request: {where}")

    @app.exception_handler(401)
    async def _login_first(request: Request, exc: HTTPException) -> Response:
        if request.method == "GET":
            return RedirectResponse("/login", status_code=303)
        return web.page("error.html", 401, message=str(exc.detail))
