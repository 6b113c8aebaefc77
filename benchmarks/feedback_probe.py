"""Black-box probe of the study app's hardening, over HTTP against a real server.

Usage: PYTHONPATH=src .venv/bin/python benchmarks/feedback_probe.py

Starts ``python -m sandwich.feedback.web.server`` on a fresh SQLite file (default
settings) and prints what an attacker sees: 20 concurrent wrong passwords for
one user, 40 usernames from one address (password spraying), an assignment
id of 2**63, and a 40 MB form with a bad CSRF token.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import yaml

from sandwich.feedback.store.db import session_factory
from sandwich.feedback.store.migrate import migrate
from sandwich.feedback.store.studies import create_study, invite
from sandwich.feedback.study_config import load_study
from sandwich.feedback.web.security import set_researcher
from sandwich.feedback.web.server import ServerProcess


def make_study(root: Path) -> Path:
    items = [{"text": f"Statement {i}.", "label": i % 2 == 0} for i in range(20)]
    (root / "task.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    study = {
        "name": "probe",
        "task": {"path": "task.jsonl"},
        "n_items": 8,
        "conditions": [{"name": "unassisted", "kind": "none"}],
        "overlap": 1,
        "items_per_rater": 4,
        "gold": {"n": 0},
        "training": {"n": 0},
    }
    path = root / "probe.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def main() -> None:
    root = Path(tempfile.mkdtemp())
    url = f"sqlite:///{root / 'probe.sqlite'}"
    Sessions = session_factory(migrate(url))
    with Sessions.begin() as s:
        set_researcher(s, "ada", "correct horse battery")
        create_study(s, load_study(make_study(root)))
        token = invite(s, "probe", 1)[0].token
    with ServerProcess(url) as server, httpx.Client(base_url=server.url, timeout=120) as c:
        csrf = csrf_of(c.get("/login").text)
        form = {"username": "ada", "password": "wrong guess", "csrf": csrf}
        with ThreadPoolExecutor(20) as pool:
            codes = list(pool.map(lambda _: c.post("/login", data=form).status_code, range(20)))
        print("20 concurrent wrong passwords for one user:", dict(sorted(Counter(codes).items())))
        spray = [
            c.post("/login", data={"username": f"u{i}", "password": "x", "csrf": csrf}).status_code
            for i in range(40)
        ]
        print("40 usernames from one address:", dict(sorted(Counter(spray).items())))
        rater_csrf = csrf_of(c.get(f"/r/{token}").text)
        c.post(f"/r/{token}/start", data={"csrf": rater_csrf})
        r = c.post(
            f"/r/{token}/answer",
            data={
                "csrf": rater_csrf,
                "assignment_id": str(2**63),
                "answer": "true",
                "confidence": "80",
            },
        )
        print(
            f"assignment_id = 2**63: {r.status_code}, "
            f"Content-Security-Policy present: {'content-security-policy' in r.headers}"
        )
        start = time.perf_counter()
        r = c.post(
            "/login",
            content=b"username=" + b"x" * (40 << 20) + b"&csrf=bad",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        took = time.perf_counter() - start
        print(f"40 MB form with a bad CSRF token: {r.status_code} in {took:.2f} s")


if __name__ == "__main__":
    main()
