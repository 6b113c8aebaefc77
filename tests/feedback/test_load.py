"""Load: 50 simulated raters at once, for a minute, against the real server
(uvicorn in a child process) on SQLite and on a real PostgreSQL server.

Afterwards every label the server confirmed is in the database exactly once
with the answer sent, no rater has two labels on an item, and no main item has
more than ``overlap`` labels in a condition. The study has fewer slots than a
minute of load fills, so raters compete for the last slots of every item.
Then the same with two server worker processes and 100 raters for 10 s:
both workers serve, and the audit stays clean (correctness only: the speed
is benchmarks/feedback_load.py's). Last, 100 raters who read each item for a
while (``think``) against a 10 s deadline: the run ends at the deadline, and
the audit stays clean with raters gone mid-item.

Throughput and latency for BENCHMARKS.md come from benchmarks/feedback_load.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from sandwich.feedback.simulated_raters import simulate
from sandwich.feedback.web.server import ServerProcess
from sandwich.testing.load_audit import audit
from sandwich.testing.synthetic_study import create_synthetic_study

pytestmark = pytest.mark.integration

CONCURRENCY = 50
DURATION = 60.0


def run_load(db_url: str, tmp_path: Path) -> None:
    # 60 items x 3 raters x 2 conditions = 360 slots
    truth = create_synthetic_study(db_url, tmp_path / "files", n_items=60)
    with ServerProcess(db_url, log=tmp_path / "server.log") as server:
        report = simulate(
            server.url, "load", n_raters=5000, skill=0.7, concurrency=CONCURRENCY,
            duration=DURATION, truth=truth,
        )  # fmt: skip
    print(report.summary())
    assert report.errors == []
    assert report.raters_started >= CONCURRENCY
    assert report.wall_seconds >= DURATION - 1
    result = audit(db_url, "load", report)
    print(result.summary())
    assert result.lost == [] and result.duplicates == [] and result.over_assigned == []
    assert result.confirmed >= 200  # real load, not a trickle
    assert result.stored >= result.confirmed
    assert result.full > 0  # the overlap rule was reached under contention


@pytest.fixture(autouse=True)
def _trust_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every simulated rater names its own address (X-Forwarded-For); the server,
    a child process on this machine, believes it from loopback."""
    monkeypatch.setenv("SANDWICH_TRUSTED_PROXIES", "127.0.0.1")


def test_load_sqlite(tmp_path: Path) -> None:
    run_load(f"sqlite:///{tmp_path / 'studies.sqlite'}", tmp_path)


def test_load_postgresql(postgres_url: str, tmp_path: Path) -> None:
    run_load(postgres_url, tmp_path)


def worker_pids(pid: int) -> list[int]:
    """uvicorn's worker processes under ``pid`` (started by multiprocessing's
    spawn; its resource tracker is left out), from /proc."""
    children = [
        int(c)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for c in (task / "children").read_text().split()
    ]
    return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def run_load_two_workers(db_url: str, tmp_path: Path) -> None:
    # 20 items x 3 raters x 2 conditions = 120 slots: raters compete for the last ones
    truth = create_synthetic_study(db_url, tmp_path / "files", n_items=20)
    with ServerProcess(db_url, log=tmp_path / "server.log", workers=2) as server:
        assert server.proc is not None
        deadline = time.monotonic() + 30
        while len(worker_pids(server.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = worker_pids(server.proc.pid)
        assert len(workers) == 2, f"expected 2 worker processes, found {workers}"
        report = simulate(
            server.url, "load", n_raters=2000, skill=0.7, concurrency=100,
            duration=10.0, truth=truth,
        )  # fmt: skip
        # both workers answered: each takes connections from the shared socket
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
    print(report.summary())
    assert report.errors == []
    assert report.raters_started >= 100
    result = audit(db_url, "load", report)
    print(result.summary())
    assert result.lost == [] and result.duplicates == [] and result.over_assigned == []
    assert result.confirmed >= 50  # labels flowed through both workers, not a stall
    assert result.stored >= result.confirmed


def test_load_two_workers_sqlite(tmp_path: Path) -> None:
    run_load_two_workers(f"sqlite:///{tmp_path / 'studies.sqlite'}", tmp_path)


def test_load_two_workers_postgresql(postgres_url: str, tmp_path: Path) -> None:
    run_load_two_workers(postgres_url, tmp_path)


def run_thinking_raters(db_url: str, tmp_path: Path) -> None:
    """Raters who read each item for a while (exponential, mean 1 s) and a deadline:
    a rater still reading when time is up leaves without answering, so the run ends
    at the deadline (a rater that finished its pause would answer up to ~ln(100) s
    late), and the audit stays clean with assignments left open mid-item."""
    truth = create_synthetic_study(db_url, tmp_path / "files", n_items=40)
    duration = 10.0
    with ServerProcess(db_url, log=tmp_path / "server.log") as server:
        report = simulate(
            server.url, "load", n_raters=2000, skill=0.7, concurrency=100,
            duration=duration, truth=truth, think=1.0,
        )  # fmt: skip
    print(report.summary())
    assert report.errors == []
    assert report.raters_started >= 100
    assert duration - 0.5 <= report.wall_seconds <= duration + 1.5
    result = audit(db_url, "load", report)
    print(result.summary())
    assert result.lost == [] and result.duplicates == [] and result.over_assigned == []
    assert result.confirmed >= 100  # raters answered while thinking, not a stall
    assert result.stored >= result.confirmed


def test_thinking_raters_stop_at_the_deadline_sqlite(tmp_path: Path) -> None:
    run_thinking_raters(f"sqlite:///{tmp_path / 'studies.sqlite'}", tmp_path)


def test_thinking_raters_stop_at_the_deadline_postgresql(postgres_url: str, tmp_path: Path) -> None:
    run_thinking_raters(postgres_url, tmp_path)
