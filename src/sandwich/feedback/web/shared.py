"""What every page of the app shares: database sessions, the server secret, templates."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import HTTPException
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session, sessionmaker

from sandwich.feedback.analysis.study_status import fmt

HERE = Path(__file__).parent
# every numeric id a request may carry is bounded: 0 < id <= MAX_ID (a signed
# 32-bit INTEGER on every database), so 2**63 is a 422, not an overflow 500
MAX_ID = 2**31 - 1


def templates() -> Environment:
    """The page templates, autoescaped (model output and rater text are untrusted)."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["fmt"] = fmt
    return env


def not_found() -> HTTPException:
    return HTTPException(404, "not found")


@dataclass(frozen=True)
class Web:
    sessions: sessionmaker[Session]
    secret: str  # signs session cookies and rater CSRF tokens
    env: Environment

    @contextmanager
    def tx(self) -> Iterator[Session]:
        """One transaction, committed when the block ends (before any reply is sent)."""
        with self.sessions.begin() as s:
            yield s

    def page(self, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(self.env.get_template(name).render(**ctx), status_code=status_code)
