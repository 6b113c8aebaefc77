"""The study server's PostgreSQL connections under a crowd: every request finds a
pooled connection (the request threads are capped at the pool size), so a
crowd larger than the pool opens no new connections, and no connection is
pinged on checkout; a connection the database dropped costs one failed
request, then the server reconnects."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from sandwich.errors import ConfigError
from sandwich.feedback.simulated_raters import simulate
from sandwich.feedback.store.db import DEFAULT_POOL, make_engine, pool_size
from sandwich.feedback.web.server import ServerProcess
from sandwich.testing.synthetic_study import create_synthetic_study


def _admin(url: str) -> psycopg.Connection:
    u = make_url(url)
    return psycopg.connect(
        f"host={u.host} port={u.port} user={u.username} password={u.password} dbname={u.database}",
        autocommit=True,
    )


def _sessions(url: str) -> int:
    """Connections ever opened to the database (pg_stat_database, PostgreSQL 14+)."""
    with _admin(url) as conn:
        row = conn.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.integration  # a real PostgreSQL server and a server process
def test_a_crowd_larger_than_the_pool_opens_no_new_connections(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 raters at once against one server process with a pool of 6: the
    server opens at most its 6 connections (it used to open and close one per
    request beyond the pool)."""
    truth = create_synthetic_study(postgres_url, tmp_path / "files", n_items=200)
    monkeypatch.setenv("SANDWICH_TRUSTED_PROXIES", "127.0.0.1")
    env = {"SANDWICH_DB_POOL": "6", "SANDWICH_TRUSTED_PROXIES": "127.0.0.1"}
    with ServerProcess(postgres_url, log=tmp_path / "server.log", env=env) as server:
        before = _sessions(postgres_url)
        report = simulate(
            server.url, "load", n_raters=60, concurrency=40, duration=8.0, truth=truth
        )
        opened = _sessions(postgres_url) - before
    assert report.errors == [] and len(report.confirmed) > 40, report.summary()
    # the server's 6 and this test's own two pg_stat_database reads
    assert opened <= 6 + 2, f"{opened} connections opened for {len(report.labels)} labels"


@pytest.mark.integration
def test_no_ping_on_checkout_and_a_dropped_connection_is_replaced(postgres_url: str) -> None:
    """A checkout sends no statement of its own; after the database ends every
    session, one statement fails and the next one runs on a new connection."""
    engine = make_engine(postgres_url)
    sent: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _sent(conn: object, cursor: object, statement: str, *_: object) -> None:
        sent.append(statement)

    try:
        for _ in range(3):
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        assert sent == ["SELECT 1"] * 3
        assert engine.pool.size() == DEFAULT_POOL  # type: ignore[attr-defined]
        with _admin(postgres_url) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        from sqlalchemy.exc import DBAPIError

        with pytest.raises(DBAPIError), engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT 2").scalar() == 2
    finally:
        engine.dispose()


def test_pool_size_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDWICH_DB_POOL", "7")
    assert pool_size() == 7
    for bad in ("many", "0"):
        monkeypatch.setenv("SANDWICH_DB_POOL", bad)
        with pytest.raises(ConfigError, match="SANDWICH_DB_POOL"):
            pool_size()
