"""The web app: rater pages and the researcher dashboard (FastAPI, Jinja2).

Raters reach only their own pages, through the personal token in their link
(``/r/<token>``) or the open entry ``/s/<study>/start?PID=<id>``
(:mod:`~sandwich.feedback.rater_pages`). Researchers log in with a password
(argon2) and get a signed session cookie
(:mod:`~sandwich.feedback.researcher_pages`). Every form carries a CSRF token;
every page escapes what it shows (Jinja2 autoescape), and a
Content-Security-Policy allows only the app's own script file.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from sandwich.feedback.db import session_factory
from sandwich.feedback.migrate import ensure_secret, migrate
from sandwich.feedback.rater_pages import rater_routes
from sandwich.feedback.researcher_pages import researcher_routes
from sandwich.feedback.web import HERE, Web, templates

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


def create_app(db_url: str | None = None, *, run_migrations: bool = True) -> FastAPI:
    """The app on the database at ``db_url`` (default: ``$SANDWICH_DB`` or SQLite in
    ``$SANDWICH_HOME``); migrations are applied first unless ``run_migrations=False``."""
    from sandwich.feedback.db import make_engine

    engine = migrate(db_url) if run_migrations else make_engine(db_url)
    web = Web(session_factory(engine), ensure_secret(engine), templates())
    app = FastAPI(title="sandwich studies", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        SessionMiddleware,
        secret_key=web.secret,
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

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        return web.page("error.html", exc.status_code, message=str(exc.detail))

    @app.exception_handler(401)
    async def _login_first(request: Request, exc: HTTPException) -> Response:
        if request.method == "GET":
            return RedirectResponse("/login", status_code=303)
        return web.page("error.html", 401, message=str(exc.detail))

    @app.get("/healthz", response_class=PlainTextResponse)
    def healthz() -> str:
        return "ok"

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return web.page("index.html")

    app.include_router(rater_routes(web))
    app.include_router(researcher_routes(web))
    return app
