"""Fixtures of the web-app tests: small study files, a database, a test client.

``lab`` gives a fresh SQLite database in tmp_path with the app on it
(FastAPI's TestClient, no network) and helpers to create studies and walk a
rater through them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from sandwich.feedback.store.db import Label, session_factory
from sandwich.feedback.store.migrate import migrate
from sandwich.feedback.store.studies import create_study, invite
from sandwich.feedback.study_config import load_study
from sandwich.feedback.web.app import create_app
from sandwich.feedback.web.security import set_researcher
from sandwich.tasks.item import item_id

PASSWORD = "correct horse battery"
XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'


def write_study(
    tmp: Path,
    *,
    name: str = "demo-study",
    n_task: int = 40,
    explanation: str = "The model looked this up.",
    **overrides: Any,
) -> Path:
    """A task of ``n_task`` statements (even numbers true), an assistance file
    covering all of them (the model is right), and a study YAML (two
    conditions, between design); returns the YAML path."""
    tmp.mkdir(parents=True, exist_ok=True)
    items = [{"text": f"Statement number {i} is true.", "label": i % 2 == 0} for i in range(n_task)]
    (tmp / "task.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items))
    help_lines = [
        {
            "item_id": item_id(r["text"], r["label"]),
            "answer": r["label"],
            "explanation": explanation,
        }
        for r in items
    ]
    (tmp / "assist.jsonl").write_text("".join(json.dumps(r) + "\n" for r in help_lines))
    study: dict[str, Any] = {
        "name": name,
        "task": {"path": "task.jsonl"},
        "n_items": 12,
        "conditions": [
            {"name": "unassisted", "kind": "none"},
            {"name": "assisted", "kind": "model-answer", "path": "assist.jsonl"},
        ],
        "design": "between",
        "overlap": 2,
        "items_per_rater": 4,
        "gold": {"n": 2, "pass_threshold": 0.5},
        "training": {"n": 1},
        "completion_code": "DONE-1234",
    }
    study.update(overrides)
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def write_pairs_file(path: Path, n: int = 30) -> list[dict[str, Any]]:
    """``n`` pairs (prompt, completion_a, completion_b, gold): the better completion
    names a fruit ("Banana"), the worse a stone ("Granite"); A is the better one
    for even i; every fifth pair has no gold."""
    rows = []
    for i in range(n):
        good, bad = f"Banana number {i}", f"Granite number {i}"
        row: dict[str, Any] = {"prompt": f"Question {i}: name a fruit."}
        row["completion_a"], row["completion_b"] = (good, bad) if i % 2 == 0 else (bad, good)
        if i % 5 != 4:
            row["gold"] = "a" if i % 2 == 0 else "b"
        rows.append(row)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def write_pairs_study(
    tmp: Path, *, name: str = "pair-study", n_pairs: int = 30, **overrides: Any
) -> Path:
    """A pairwise study over :func:`write_pairs_file` (one condition, an attention
    check, within design); returns the YAML path."""
    tmp.mkdir(parents=True, exist_ok=True)
    write_pairs_file(tmp / "pairs.jsonl", n_pairs)
    study: dict[str, Any] = {
        "name": name,
        "pairs": "pairs.jsonl",
        "n_items": 10,
        "conditions": [{"name": "unassisted", "kind": "none"}],
        "overlap": 2,
        "items_per_rater": 4,
        "gold": {"n": 2, "pass_threshold": 0.5},
        "training": {"n": 1},
        "attention": {
            "items": [
                {
                    "text": "To show you are reading, pick the completion that says Pineapple.",
                    "completion_a": "Cobblestone",
                    "completion_b": "Pineapple",
                    "answer": "b",
                }
            ]
        },
        "completion_code": "PAIR-1234",
    }
    study.update(overrides)
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def better_shown(page: str) -> str:
    """``first`` or ``second``: where the better completion (a fruit, or the
    attention check's Pineapple) is shown on a pairwise item page."""
    first = re.search(r'id="completion-1-text">(.*?)</p>', page, re.S).group(1)  # type: ignore[union-attr]
    return "first" if first.startswith(("Banana", "Pineapple")) else "second"


def truth_of(text: str) -> bool:
    """The gold answer of a statement made by :func:`write_study`."""
    return int(re.search(r"number (\d+)", text).group(1)) % 2 == 0  # type: ignore[union-attr]


class Lab:
    """A database with the app on it, and a rater's moves as methods."""

    def __init__(self, root: Path, url: str | None = None) -> None:
        self.root = root
        self.url = url or f"sqlite:///{root / 'studies.sqlite'}"
        self.engine = migrate(self.url)
        self.Sessions = session_factory(self.engine)
        self.client = TestClient(create_app(self.url))

    def study(self, **overrides: Any) -> str:
        path = write_study(self.root / overrides.get("name", "demo-study"), **overrides)
        with self.Sessions.begin() as s:
            return create_study(s, load_study(path)).name

    def pair_study(self, **overrides: Any) -> str:
        path = write_pairs_study(self.root / overrides.get("name", "pair-study"), **overrides)
        with self.Sessions.begin() as s:
            return create_study(s, load_study(path)).name

    def answer_pair(
        self, token: str, csrf: str, aid: str, choice: str, confidence: int = 80
    ) -> Any:
        """Answer a pairwise item: ``choice`` is ``first`` / ``second`` as shown."""
        form = {"csrf": csrf, "assignment_id": aid, "answer": choice, "confidence": str(confidence)}
        return self.client.post(f"/r/{token}/answer", data=form, follow_redirects=False)

    def invite(self, study: str, n: int = 1) -> list[str]:
        with self.Sessions.begin() as s:
            return [token for _, token in invite(s, study, n)]

    def csrf(self, token: str) -> str:
        page = self.client.get(f"/r/{token}").text
        return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]

    def start(self, token: str) -> str:
        csrf = self.csrf(token)
        r = self.client.post(f"/r/{token}/start", data={"csrf": csrf}, follow_redirects=False)
        assert r.status_code == 303
        return csrf

    def current(self, token: str) -> tuple[str, str, str] | None:
        """(assignment key, statement, page html) of the rater's current item; None when done."""
        page = self.client.get(f"/r/{token}").text
        aid = re.search(r'name="assignment_id" value="([^"]+)"', page)
        if aid is None:
            return None
        text = re.search(r'id="item-text">(.*?)</blockquote>', page, re.S)
        return aid.group(1), text.group(1) if text else "", page  # type: ignore[union-attr]

    def answer(
        self, token: str, csrf: str, aid: str, answer: bool, confidence: int = 80, reason: str = ""
    ) -> Any:
        return self.client.post(
            f"/r/{token}/answer",
            data={
                "csrf": csrf,
                "assignment_id": aid,
                "answer": "true" if answer else "false",
                "confidence": str(confidence),
                "reason": reason,
            },
            follow_redirects=False,
        )

    def finish(self, token: str, policy: Callable[[str], bool] = truth_of) -> str:
        """Answer every item with ``policy(statement)``; return the final page."""
        csrf = self.start(token)
        for _ in range(200):
            cur = self.current(token)
            if cur is None:
                return self.client.get(f"/r/{token}").text
            r = self.answer(token, csrf, cur[0], policy(cur[1]))
            assert r.status_code == 303, r.text
        raise AssertionError("rater never finished")

    def labels(self) -> list[Label]:
        with self.Sessions() as s:
            return list(s.scalars(select(Label)).all())


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path)
    yield lab
    lab.client.close()
    lab.engine.dispose()


@pytest.fixture
def make_study_file(tmp_path: Path) -> Callable[..., Path]:
    def make(**overrides: Any) -> Path:
        return write_study(tmp_path / "files", **overrides)

    return make


@pytest.fixture
def researcher(lab: Lab) -> TestClient:
    """A logged-in researcher's client (its own cookie jar) on ``lab``'s app."""
    with lab.Sessions.begin() as s:
        set_researcher(s, "ada", PASSWORD)
    client = TestClient(lab.client.app)
    page = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    r = client.post(
        "/login",
        data={"username": "ada", "password": PASSWORD, "csrf": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/dashboard"
    return client
