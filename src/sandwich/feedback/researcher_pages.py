"""The researcher's pages: login (argon2, throttled), the dashboard, the plot, labels.csv.

A signed session cookie says who is logged in; forms carry a random CSRF
token kept in that session.
"""

from __future__ import annotations

import io
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from sandwich.feedback.db import Study
from sandwich.feedback.security import LoginThrottle, authenticate, same
from sandwich.feedback.status import labels_frame, study_overview, study_status
from sandwich.feedback.web import Web, not_found


def researcher_routes(web: Web) -> APIRouter:
    router = APIRouter()
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
        if not same(csrf, request.session.get("csrf")):
            raise HTTPException(403, "this form has expired; reload the page")
        if throttle.blocked(username):
            return web.page(
                "login.html",
                429,
                csrf=csrf_of(request),
                error="too many failed logins for this user: try again in a few minutes",
            )
        with web.tx() as s:
            user = authenticate(s, username, password)
        if user is None:
            throttle.failed(username)
            return web.page(
                "login.html", 401, csrf=csrf_of(request), error="wrong username or password"
            )
        throttle.succeeded(username)
        request.session.clear()  # a fresh session on login
        request.session["researcher"] = user.username
        request.session["csrf"] = secrets.token_urlsafe(24)
        return RedirectResponse("/dashboard", status_code=303)

    @router.post("/logout")
    def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
        if not same(csrf, request.session.get("csrf")):
            raise HTTPException(403, "this form has expired; reload the page")
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @router.get("/dashboard", response_class=HTMLResponse)
    def dashboard(request: Request) -> HTMLResponse:
        user = researcher(request)
        with web.tx() as s:
            studies = s.scalars(select(Study).order_by(Study.created_at)).all()
            rows = [(st.name, study_overview(s, st)) for st in studies]
        return web.page("dashboard.html", user=user, rows=rows, csrf=csrf_of(request))

    def _study(s: Session, name: str) -> Study:
        study = s.scalar(select(Study).where(Study.name == name))
        if study is None:
            raise not_found()
        return study

    @router.get("/dashboard/{name}", response_class=HTMLResponse)
    def dashboard_study(request: Request, name: str) -> HTMLResponse:
        user = researcher(request)
        with web.tx() as s:
            st = study_status(s, _study(s, name))
        return web.page("dashboard_study.html", user=user, st=st, csrf=csrf_of(request))

    @router.get("/dashboard/{name}/plot.png")
    def dashboard_plot(request: Request, name: str) -> Response:
        researcher(request)
        from sandwich.feedback.plots import study_plot

        with web.tx() as s:
            st = study_status(s, _study(s, name), n_boot=200)
        return Response(study_plot(st), media_type="image/png")

    @router.get("/dashboard/{name}/labels.csv")
    def dashboard_csv(request: Request, name: str) -> Response:
        researcher(request)
        with web.tx() as s:
            frame = labels_frame(s, _study(s, name))
        buf = io.StringIO()
        frame.to_csv(buf, index=False)
        return Response(
            buf.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}-labels.csv"'},
        )

    return router
