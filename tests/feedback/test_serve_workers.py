"""Several server workers: migrations once before they start, the app in each
worker built from the parent's settings, ServerProcess's ``--workers``, and
SQLite's writer queue (threads and processes wait their turn on a lock
instead of in SQLite's sleeping busy handler)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from sandwich.errors import ConfigError, SandwichError
from sandwich.feedback.store.db import SQLiteWriters, make_engine, writer_queue
from sandwich.feedback.web import app as app_mod
from sandwich.feedback.web import server as server_mod
from sandwich.feedback.web.server import WORKER_SETTINGS_ENV, ServerProcess, serve, worker_app


def test_serve_with_workers_migrates_once_then_hands_uvicorn_a_factory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    monkeypatch.setenv(WORKER_SETTINGS_ENV, "")  # restored after the test
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    url = f"sqlite:///{tmp_path / 'studies.sqlite'}"
    serve(url, port=8123, workers=3, https_only=True, max_body=4096)
    assert seen["app"] == "sandwich.feedback.web.server:worker_app"
    assert seen["factory"] is True and seen["workers"] == 3 and seen["port"] == 8123
    assert seen["timeout_keep_alive"] > 60  # outlives nginx's idle upstream connections
    engine = make_engine(url)
    with engine.connect() as conn:  # migrated by the parent, before any worker
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()

    def no_migrations(*args: Any, **kw: Any) -> None:
        raise AssertionError("a worker must not run the migrations")

    monkeypatch.setattr(app_mod, "migrate", no_migrations)
    app = worker_app()  # what each worker process builds
    assert str(app.state.engine.url) == url
    assert app.state.engine.dialect.name == "sqlite"


def test_serve_with_one_worker_runs_the_app_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    serve(f"sqlite:///{tmp_path / 'studies.sqlite'}")
    assert not isinstance(seen["app"], str) and seen["workers"] is None
    assert seen["factory"] is False


def test_workers_must_be_positive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="workers must be at least 1, got 0"):
        serve(f"sqlite:///{tmp_path / 'x.sqlite'}", workers=0)
    with pytest.raises(ConfigError, match="workers must be at least 1"):
        ServerProcess("sqlite://", workers=0)


def test_worker_app_without_settings_says_how_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WORKER_SETTINGS_ENV, raising=False)
    with pytest.raises(ConfigError, match=WORKER_SETTINGS_ENV):
        worker_app()


class _DeadChild:
    returncode = 1
    pid = 0

    def poll(self) -> int:
        return 1


def test_server_process_starts_workers_in_their_own_process_group(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}

    def fake_popen(cmd: list[str], **kw: Any) -> _DeadChild:
        seen.update(cmd=cmd, **kw)
        return _DeadChild()

    monkeypatch.setattr(server_mod.subprocess, "Popen", fake_popen)
    with pytest.raises(SandwichError, match="exited"):
        ServerProcess("sqlite://", port=1, workers=2).start(timeout=1.0)
    assert seen["cmd"][-2:] == ["--workers", "2"]
    assert seen["start_new_session"] is True  # kill() reaches the workers too


def test_sqlite_writers_take_turns_across_threads(tmp_path: Path) -> None:
    hold = writer_queue(make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    inside, overlaps = [0], [0]

    def write() -> None:
        for _ in range(5):
            with hold():
                inside[0] += 1
                if inside[0] > 1:
                    overlaps[0] += 1
                time.sleep(0.002)
                inside[0] -= 1

    threads = [threading.Thread(target=write) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps[0] == 0
    assert (tmp_path / "db.sqlite.writers").exists()


def test_sqlite_writers_wait_for_another_process(tmp_path: Path) -> None:
    database = str(tmp_path / "db.sqlite")
    holder = (
        "import sys, time\n"
        "from sandwich.feedback.store.db import SQLiteWriters\n"
        f"with SQLiteWriters({database!r}).hold():\n"
        "    print('held', flush=True)\n"
        "    time.sleep(1.0)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        start = time.monotonic()
        with SQLiteWriters(database).hold():
            waited = time.monotonic() - start
        assert waited > 0.5  # queued behind the other process's writer
    finally:
        child.wait(timeout=30)


def test_postgresql_and_memory_databases_need_no_queue() -> None:
    assert SQLiteWriters(None).path is None
    with SQLiteWriters(None).hold():  # in-memory SQLite: the thread lock alone
        pass
    engine = make_engine("sqlite://")
    with writer_queue(engine)():
        pass


def test_sandwich_serve_takes_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from sandwich.cli import app as cli

    seen: dict[str, Any] = {}
    monkeypatch.setattr(server_mod, "serve", lambda *a, **kw: seen.update(kw))
    url = f"sqlite:///{tmp_path / 'studies.sqlite'}"
    result = CliRunner().invoke(cli, ["serve", "--db", url, "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert seen["workers"] == 2
    assert "2 worker process(es)" in result.output
    bad = CliRunner().invoke(cli, ["serve", "--db", url, "--workers", "0"])
    assert bad.exit_code != 0
