"""What every page of the app shares: database sessions, the server secret, templates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from fastapi import HTTPException
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session, sessionmaker

from sandwich.feedback.analysis.study_status import fmt
from sandwich.feedback.store.db import Study
from sandwich.feedback.store.studies import study_config
from sandwich.feedback.study_config import StudyConfig

HERE = Path(__file__).parent
# every numeric id a request may carry is bounded: 0 < id <= MAX_ID (a signed
# 32-bit INTEGER on every database), so 2**63 is a 422, not an overflow 500
MAX_ID = 2**31 - 1


def templates() -> Environment:
    """The page templates, autoescaped (model output and rater text are untrusted)."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        auto_reload=False,  # the package's templates do not change while it runs
    )
    env.filters["fmt"] = fmt
    return env


def not_found() -> HTTPException:
    return HTTPException(404, "not found")


class Page(NamedTuple):
    """A page to render once the transaction that chose it has committed."""

    name: str
    ctx: dict[str, Any]
    status_code: int = 200


def page_of(name: str, status_code: int = 200, **ctx: Any) -> Page:
    return Page(name, ctx, status_code)


@dataclass(frozen=True)
class Web:
    sessions: sessionmaker[Session]
    secret: str  # signs session cookies and rater CSRF tokens
    env: Environment
    # held around every transaction: SQLite's writer queue (store.db.writer_queue)
    writers: Callable[[], AbstractContextManager[None]] = field(default=nullcontext)
    # study id -> its parsed config: a study's config never changes after it is
    # created, and loading the study row cost more than the rest of a page's reads
    configs: dict[int, StudyConfig] = field(default_factory=dict, repr=False)

    @contextmanager
    def tx(self) -> Iterator[Session]:
        """One transaction, committed when the block ends (before any reply is
        sent). Keep it short: on SQLite the next writer waits for it, so pages
        are rendered after it (:class:`Page`)."""
        with self.writers(), self.sessions.begin() as s:
            yield s

    def config(self, s: Session, study_id: int) -> StudyConfig:
        """The study's config (read from the database once per process)."""
        found = self.configs.get(study_id)
        if found is None:
            study = s.get(Study, study_id)
            if study is None:
                raise not_found()
            found = self.configs[study_id] = study_config(study)
        return found

    def page(self, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(self.env.get_template(name).render(**ctx), status_code=status_code)

    def render(self, page: Page) -> HTMLResponse:
        return self.page(page.name, page.status_code, **page.ctx)
