"""The researcher's pages: login (argon2, throttled), the dashboard, the plot, labels.csv.

A signed session cookie says who is logged in (researcher id and session
version); every request checks the version against the database, so logging
out or changing the password ends every session of that researcher. Forms
carry a random CSRF token kept in that session. A researcher sees only the
studies they own or that were shared with them (and studies without owner:
:mod:`~sandwich.feedback.store.access`); any other study is a 404.
"""

from __future__ import annotations

import io
import math
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from sandwich.feedback.analysis.agreement import agreement_table
from sandwich.feedback.analysis.csv_safe import frame_to_csv
from sandwich.feedback.analysis.study_status import labels_frame, study_overview, study_status
from sandwich.feedback.store.access import visible_studies, visible_study
from sandwich.feedback.store.db import Researcher, Study
from sandwich.feedback.web.security import MAX_USERNAME, LoginThrottle, authenticate, same
from sandwich.feedback.web.shared import Web, not_found


def client_address(request: Request) -> str:
    """The client's address (behind a proxy: what uvicorn's proxy-header
    handling made of X-Forwarded-For, see ``--forwarded-allow-ips``)."""
    return request.client.host if request.client else "unknown"


def researcher_routes(web: Web, throttle: LoginThrottle | None = None) -> APIRouter:
    """Every researcher route: login and logout, the dashboard and its downloads."""
    router = APIRouter()
    _login_routes(router, web, LoginThrottle() if throttle is None else throttle)
    _dashboard_routes(router, web)
    return router


def csrf_of(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return str(token)


def researcher(request: Request, s: Session) -> Researcher:
    """The logged-in researcher, if the cookie's session version is still current."""
    rid, version = request.session.get("rid"), request.session.get("sv")
    found = s.get(Researcher, rid) if isinstance(rid, int) else None
    if found is None or not isinstance(version, int) or found.session_version != version:
        request.session.clear()
        raise HTTPException(401, "log in first: /login")
    return found


def _check_csrf(request: Request, csrf: str) -> None:
    if not same(csrf, request.session.get("csrf")):
        raise HTTPException(403, "this form has expired; reload the page")


def _login_page(web: Web, request: Request, status: int, error: str, wait: float = 0) -> Response:
    """The login form again: wrong credentials (401) or throttled (429, ``wait`` s)."""
    if wait > 0:
        status, error = 429, f"too many failed logins: try again in {math.ceil(wait)} s"
    response = web.page("login.html", status, csrf=csrf_of(request), error=error)
    if wait > 0:
        response.headers["Retry-After"] = str(math.ceil(wait))
    return response


def _login_routes(router: APIRouter, web: Web, throttle: LoginThrottle) -> None:
    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> HTMLResponse:
        return web.page("login.html", csrf=csrf_of(request), error=None)

    @router.post("/login")
    def login(
        request: Request,
        username: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        _check_csrf(request, csrf)
        address = client_address(request)
        wrong = "wrong username or password"
        if not username or len(username) > MAX_USERNAME:  # no such login can exist
            return _login_page(web, request, 401, wrong, throttle.attempt(None, address))
        wait = throttle.attempt(username, address)  # reserved before the slow hash
        if wait > 0:
            return _login_page(web, request, 429, "", wait)
        with web.tx() as s:
            user = authenticate(s, username, password)
            if user is not None:
                rid, version = user.id, user.session_version
        if user is None:
            return _login_page(web, request, 401, wrong)
        throttle.succeeded(username, address)
        request.session.clear()  # a fresh session on login
        request.session.update(
            researcher=user.username, rid=rid, sv=version, csrf=secrets.token_urlsafe(24)
        )
        return RedirectResponse("/dashboard", status_code=303)

    @router.post("/logout")
    def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
        _check_csrf(request, csrf)
        with web.tx() as s:
            try:
                who = researcher(request, s)
            except HTTPException:
                who = None
            if who is not None:  # every cookie of this researcher stops working
                who.session_version = (who.session_version or 0) + 1
        request.session.clear()
        return RedirectResponse("/login", status_code=303)


def _study(s: Session, user: Researcher, name: str) -> Study:
    study = visible_study(s, user.id, name)
    if study is None:  # unknown and not shared look the same
        raise not_found()
    return study


def _dashboard_routes(router: APIRouter, web: Web) -> None:
    @router.get("/dashboard", response_class=HTMLResponse)
    def dashboard(request: Request) -> HTMLResponse:
        with web.tx() as s:
            user = researcher(request, s)
            rows = [(st.name, study_overview(s, st)) for st in visible_studies(s, user.id)]
            name = user.username
        return web.page("dashboard.html", user=name, rows=rows, csrf=csrf_of(request))

    @router.get("/dashboard/{name}", response_class=HTMLResponse)
    def dashboard_study(request: Request, name: str) -> HTMLResponse:
        with web.tx() as s:
            user = researcher(request, s)
            st = study_status(s, _study(s, user, name))
            username = user.username
        agreement = agreement_table(st.labels, n_boot=500) if len(st.labels) else None
        return web.page(
            "dashboard_study.html",
            user=username,
            st=st,
            agreement=agreement,
            csrf=csrf_of(request),
        )

    @router.get("/dashboard/{name}/plot.png")
    def dashboard_plot(request: Request, name: str) -> Response:
        from sandwich.feedback.analysis.plots import study_plot

        with web.tx() as s:
            user = researcher(request, s)
            st = study_status(s, _study(s, user, name), n_boot=200)
        return Response(study_plot(st), media_type="image/png")

    @router.get("/dashboard/{name}/labels.csv")
    def dashboard_csv(request: Request, name: str) -> Response:
        with web.tx() as s:
            user = researcher(request, s)
            frame = labels_frame(s, _study(s, user, name))
        buf = io.StringIO()
        frame_to_csv(frame, buf)
        return Response(
            buf.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}-labels.csv"'},
        )
