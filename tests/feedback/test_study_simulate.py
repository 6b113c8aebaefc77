"""End to end: simulated raters drive the real server (uvicorn in a child
process) over HTTP, concurrently; every label the server confirmed is in the
database exactly once, and no item is over-assigned."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from sandwich.feedback.analysis.study_status import study_status
from sandwich.feedback.simulated_raters import simulate
from sandwich.feedback.store.db import Assignment, Item, Label, Rater
from sandwich.feedback.store.studies import get_study, study_truth
from sandwich.feedback.web.server import ServerProcess

from .conftest import Lab  # type: ignore[import-not-found]

pytestmark = pytest.mark.integration


def test_simulated_raters_over_http(tmp_path: Path, monkeypatch) -> None:
    # every simulated rater names its own address; the server believes it from loopback
    monkeypatch.setenv("SANDWICH_TRUSTED_PROXIES", "127.0.0.1")
    lab = Lab(tmp_path)
    study = lab.study(n_items=20, overlap=2, items_per_rater=5)  # 80 slots, 16 raters fill them
    with lab.Sessions() as s:
        truth = study_truth(s, get_study(s, study))
    with ServerProcess(lab.url, log=tmp_path / "server.log") as server:
        report = simulate(
            server.url, study, n_raters=18, skill=0.6, concurrency=6, trust=0.9, truth=truth
        )
    assert report.errors == []
    assert report.raters_started == report.raters_finished == 18
    codes = [c for c in report.completion_codes.values() if c is not None]
    assert codes and len(set(codes)) == len(codes)  # one code per rater
    assert all(re.fullmatch(r"DONE-1234-[A-Z2-7]{10}", c) for c in codes)
    # every confirmed label is stored, once; nothing else is stored
    with lab.Sessions() as s:
        stored = s.execute(
            select(Rater.external_id, Assignment.key, Label.answer)
            .join(Rater, Rater.id == Label.rater_id)
            .join(Assignment, Assignment.id == Label.assignment_id)
        ).all()
        over = s.execute(
            select(Assignment.item_id, Assignment.condition, Assignment.rater_id).where(
                Assignment.role == "main", Assignment.rater_id.is_not(None)
            )
        ).all()
        gold = dict(s.execute(select(Item.id, Item.gold)).all())
        st = study_status(s, get_study(s, study), n_boot=200)
    confirmed = {(x.rater, x.assignment, x.answer) for x in report.confirmed}
    assert len(confirmed) == len(report.confirmed) == len(report.labels)
    assert set(stored) == confirmed and len(stored) == len(confirmed)
    per_slot = Counter((item, cond) for item, cond, _ in over)
    assert len(per_slot) == 40 and set(per_slot.values()) == {2}  # overlap met, not exceeded
    assert len({(item, rater) for item, _, rater in over}) == len(over)
    assert len(gold) == 27  # 20 main, a gold pool of 6, 1 training
    # the loop closes: assisted raters (trusting a right model) beat unassisted ones
    acc = st.conditions.set_index("condition")["accuracy"]
    assert acc["assisted"] > acc["unassisted"]
    assert st.sandwich is not None and st.sandwich.gap_closed > 0.5
    assert report.throughput > 0 and report.latency_quantile(0.95) > 0


def test_sandwich_serve_and_study_simulate_commands(tmp_path: Path, monkeypatch, capsys) -> None:
    """`sandwich serve` in a child process, `sandwich study simulate --url` against it."""
    import subprocess
    import sys
    import time

    import httpx

    from sandwich.cli import main
    from sandwich.feedback.web.server import free_port

    lab = Lab(tmp_path)
    study = lab.study(n_items=8, overlap=1, items_per_rater=4)
    monkeypatch.setenv("SANDWICH_DB", lab.url)
    monkeypatch.setenv("SANDWICH_TRUSTED_PROXIES", "127.0.0.1")  # for `sandwich serve`
    port = free_port()
    cmd = [sys.executable, "-m", "sandwich", "serve", "--db", lab.url, "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        assert httpx.get(f"{url}/").status_code == 200
        args = ["study", "simulate", study, "--url", url, "--raters", "4", "--concurrency", "2"]
        assert main(args) == 0
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    out = capsys.readouterr().out
    assert "4 raters started, 4 finished; 28 labels confirmed of 28 submitted" in out
    assert re.search(r"assisted\s*│\s*model-answer\s*│\s*8\s*│\s*8\s*│\s*8", out)
    assert len(lab.labels()) == 28
