"""Schema migrations (Alembic, shipped in the package): :func:`migrate` brings a
database to the newest schema; running it again is a no-op."""

from __future__ import annotations

import secrets
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from sandwich.errors import required
from sandwich.feedback.db import Setting, make_engine, session_factory

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(url_or_engine: str | Engine | None = None) -> Engine:
    """Apply every pending migration; make the server secret once. Returns the engine."""
    engine = url_or_engine if isinstance(url_or_engine, Engine) else make_engine(url_or_engine)
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    ensure_secret(engine)
    return engine


def ensure_secret(engine: Engine) -> str:
    """The server secret (signs session cookies and CSRF tokens), made on first use."""
    Session = session_factory(engine)
    with Session() as s:
        found = s.scalar(select(Setting.value).where(Setting.key == "secret"))
        if found:
            return found
    try:
        with Session.begin() as s:
            s.add(Setting(key="secret", value=secrets.token_urlsafe(32)))
    except IntegrityError:  # another process made it first
        pass
    with Session() as s:
        value = s.scalar(select(Setting.value).where(Setting.key == "secret"))
    return required(value, "the secret setting")
