"""Crash: the server process is killed with SIGKILL in the middle of the load
test and started again on the same database and port; the simulated raters
carry on. No label a rater was told was saved is lost, none is stored twice,
and the SQLite file passes its integrity check.

SQLite is the case that matters here: the killed process itself held the
database (WAL); with PostgreSQL the database lives in another process that
the kill does not touch.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from sandwich.feedback.simulated_raters import SimulationReport, simulate
from sandwich.feedback.web.server import ServerProcess
from sandwich.testing.load_audit import audit
from sandwich.testing.synthetic_study import create_synthetic_study

pytestmark = pytest.mark.integration

N_RATERS = 60  # 50 at once; 11 labels each (1 training, 2 gold, 8 main)


def test_sigkill_mid_load_loses_no_confirmed_label(tmp_path: Path, monkeypatch) -> None:
    # every simulated rater names its own address; the server believes it from loopback
    monkeypatch.setenv("SANDWICH_TRUSTED_PROXIES", "127.0.0.1")
    db = tmp_path / "studies.sqlite"
    url = f"sqlite:///{db}"
    truth = create_synthetic_study(url, tmp_path / "files", n_items=400)

    def stored() -> int:
        with sqlite3.connect(db, timeout=30) as conn:
            return int(conn.execute("SELECT count(*) FROM labels").fetchone()[0])

    server = ServerProcess(url, log=tmp_path / "server.log").start()
    out: dict[str, SimulationReport] = {}

    def load() -> None:
        # every rater works to the end (no time limit): the load outlasts any restart time
        out["report"] = simulate(
            server.url, "load", n_raters=N_RATERS, skill=0.7, concurrency=50, duration=None,
            truth=truth, retry_seconds=120.0,
        )  # fmt: skip

    thread = threading.Thread(target=load)
    t0 = time.monotonic()
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while stored() < 100 and time.monotonic() < deadline:  # well into the load
            time.sleep(0.5)
        before = stored()
        assert before >= 100, "the load never got going"
        server.kill()  # SIGKILL: no shutdown, no flush
        assert server.proc is not None and server.proc.returncode == -9
        at_kill = stored()
        t_kill = time.monotonic() - t0
        time.sleep(1.0)
        restarted = ServerProcess(url, port=server.port, log=tmp_path / "server2.log").start()
        t_up = time.monotonic() - t0
        print(f"killed at {t_kill:.1f} s, up again at {t_up:.1f} s")
        thread.join(timeout=400)
        restarted.stop()
    finally:
        server.kill()
        thread.join(timeout=1)
    assert not thread.is_alive()
    report = out["report"]
    print(report.summary())
    outcomes = [x.outcome for x in report.labels]
    failed = [o for o in outcomes if o.startswith("error:")]
    print(f"{before} labels stored before the kill, {at_kill} at it; {len(failed)} submits failed")
    assert failed, "no submit was in flight at the kill"
    assert report.errors == []
    assert report.raters_finished == N_RATERS
    assert stored() > at_kill  # the raters carried on after the restart
    result = audit(url, "load", report)
    print(result.summary())
    assert result.lost == [] and result.duplicates == [] and result.over_assigned == []
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
