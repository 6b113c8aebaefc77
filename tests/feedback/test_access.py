"""Researchers see only their studies; migration 0004_security on an existing database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

from sandwich.cli import main
from sandwich.feedback.store.access import members
from sandwich.feedback.store.db import Researcher, make_engine
from sandwich.feedback.store.migrate import _alembic_config, migrate
from sandwich.feedback.store.studies import get_study
from sandwich.feedback.web.security import set_researcher

from .conftest import PASSWORD, Lab, write_study  # type: ignore[import-not-found]


def _client(lab: Lab, user: str) -> TestClient:
    client = TestClient(lab.client.app)
    page = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    r = client.post(
        "/login",
        data={"username": user, "password": PASSWORD, "csrf": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    return client


def test_a_researcher_sees_only_their_studies(tmp_path: Path, monkeypatch) -> None:
    lab = Lab(tmp_path)
    try:
        check_access(lab, tmp_path, monkeypatch)
    finally:
        lab.client.close()
        lab.engine.dispose()


def check_access(lab: Lab, tmp_path: Path, monkeypatch) -> None:
    """Called with a SQLite and a PostgreSQL lab."""
    monkeypatch.setenv("SANDWICH_DB", lab.url)
    with lab.Sessions.begin() as s:
        for user in ("ada", "bob", "cy"):
            set_researcher(s, user, PASSWORD)
    open_study = lab.study(name="open-study")  # no owner: everyone sees it
    path = write_study(tmp_path / "files", name="adas-study")
    assert main(["study", "create", str(path), "--owner", "ada"]) == 0
    ada, bob, cy = (_client(lab, u) for u in ("ada", "bob", "cy"))
    for client, sees in ((ada, True), (bob, False)):
        listing = client.get("/dashboard").text
        assert ('href="/dashboard/adas-study"' in listing) is sees
        assert f'href="/dashboard/{open_study}"' in listing
        for path_ in ("", "/labels.csv", "/plot.png"):
            r = client.get(f"/dashboard/adas-study{path_}")
            assert r.status_code == (200 if sees else 404), (path_, r.status_code)
    # a missing study and a hidden one look the same
    assert bob.get("/dashboard/no-such-study").text == bob.get("/dashboard/adas-study").text
    assert main(["study", "share", "adas-study", "--with", "bob"]) == 0
    with lab.Sessions() as s:
        assert members(s, get_study(s, "adas-study")) == [("ada", "owner"), ("bob", "member")]
    assert bob.get("/dashboard/adas-study/labels.csv").status_code == 200
    assert cy.get("/dashboard/adas-study/labels.csv").status_code == 404
    assert main(["study", "share", "adas-study", "--with", "bob", "--remove"]) == 0
    assert bob.get("/dashboard/adas-study/labels.csv").status_code == 404
    # closing an open study: its first share
    assert main(["study", "share", open_study, "--with", "cy", "--owner"]) == 0
    assert ada.get(f"/dashboard/{open_study}").status_code == 404
    assert cy.get(f"/dashboard/{open_study}").status_code == 200
    # sessions: logging out ends a copied cookie too (the version lives in the database)
    stolen = TestClient(cy.app)
    stolen.cookies.update(cy.cookies)
    page = cy.get("/dashboard").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert cy.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    assert stolen.get("/dashboard", follow_redirects=False).status_code == 303


def test_unknown_owner_fails_and_stores_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    monkeypatch.setenv("SANDWICH_DB", url)
    path = write_study(tmp_path / "files")
    assert main(["study", "create", str(path), "--owner", "nobody"]) == 2
    assert "no researcher named 'nobody'" in capsys.readouterr().err
    assert main(["study", "status", "demo-study"]) == 2  # nothing was stored
    assert main(["study", "create", str(path)]) == 0
    assert main(["study", "share", "demo-study", "--with", "nobody"]) == 2
    assert "sandwich study researcher nobody" in capsys.readouterr().err


def _at_0001_with_a_researcher(engine: Engine) -> Config:
    """Migrate ``engine`` to 0001 and store a researcher 'old' as that schema had
    them; returns the alembic config (for migrating further)."""
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text("INSERT INTO researchers (username, password_hash) VALUES ('old', 'x')"))
    return cfg


def test_migration_0004_on_a_database_at_0001(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = make_engine(url)
    cfg = _at_0001_with_a_researcher(engine)
    migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == (
            ScriptDirectory.from_config(cfg).get_current_head()
        )
        assert conn.execute(text("SELECT count(*) FROM study_members")).scalar() == 0
    from sandwich.feedback.store.db import session_factory

    with session_factory(engine)() as s:
        assert s.scalar(select(Researcher.session_version)) == 0
    with engine.begin() as conn:  # and back down
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
        cols = [r[1] for r in conn.execute(text("PRAGMA table_info(researchers)"))]
        assert "session_version" not in cols
    engine.dispose()


@pytest.mark.integration
def test_access_sessions_and_migration_on_postgresql(
    tmp_path: Path, postgres_url: str, monkeypatch
) -> None:
    """Migration 0004 on PostgreSQL (0001 first, then up), study access and session versions."""
    engine = make_engine(postgres_url)
    _at_0001_with_a_researcher(engine)
    engine.dispose()
    lab = Lab(tmp_path, postgres_url)  # migrates to head
    try:
        with lab.Sessions() as s:
            assert s.scalar(select(Researcher.session_version)) == 0
        check_access(lab, tmp_path, monkeypatch)
    finally:
        lab.client.close()
        lab.engine.dispose()
