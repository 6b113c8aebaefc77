"""Security: tokens and login on every endpoint, no gold or other raters' labels
reachable by a rater, argon2 passwords, CSRF on every form, escaping."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from sandwich.feedback.store.db import Assignment, Researcher
from sandwich.feedback.web.security import set_researcher

from .conftest import PASSWORD, XSS  # type: ignore[import-not-found]


def test_unknown_rater_token_is_404_everywhere(lab) -> None:
    lab.study()
    for path in ("/r/nope", "/r/nope/feedback/1"):
        assert lab.client.get(path).status_code == 404
    r = lab.client.post("/r/nope/answer", data={"assignment_id": "1", "csrf": "x"})
    assert r.status_code == 403  # no valid CSRF token can exist for an unknown token


def test_rater_cannot_answer_or_read_another_raters_item(lab) -> None:
    study = lab.study()
    alice, bob = lab.invite(study, 2)
    csrf_a = lab.start(alice)
    lab.start(bob)
    bob_item = lab.current(bob)[0]
    r = lab.answer(alice, csrf_a, bob_item, True)  # alice's token, bob's assignment
    assert r.headers["x-sandwich-label"] == "gone"
    assert lab.labels() == []
    csrf_b = lab.csrf(bob)
    lab.answer(bob, csrf_b, bob_item, True)  # bob's training item: has feedback for bob
    assert lab.client.get(f"/r/{bob}/feedback/{bob_item}").status_code == 200
    assert lab.client.get(f"/r/{alice}/feedback/{bob_item}").status_code == 404


def test_rater_of_one_study_cannot_touch_another(lab) -> None:
    one = lab.study(name="study-one")
    two = lab.study(name="study-two")
    t1 = lab.invite(one)[0]
    t2 = lab.invite(two)[0]
    csrf1 = lab.start(t1)
    lab.start(t2)
    other = lab.current(t2)[0]
    assert lab.answer(t1, csrf1, other, False).headers["x-sandwich-label"] == "gone"
    assert lab.labels() == []
    # a rater's CSRF token is bound to their own token
    assert lab.answer(t2, csrf1, other, False).status_code == 403


def test_gold_answers_never_reach_a_rater_before_they_answer(lab) -> None:
    study = lab.study()
    token = lab.invite(study)[0]
    csrf = lab.start(token)
    seen_pages = []
    while (cur := lab.current(token)) is not None:
        aid, _, page = cur
        seen_pages.append(page)
        # no feedback page before answering
        assert lab.client.get(f"/r/{token}/feedback/{aid}").status_code == 404
        lab.answer(token, csrf, aid, True)
    with lab.Sessions() as s:
        roles = dict(s.execute(select(Assignment.key, Assignment.role)).all())
    gold_pages = [
        p for p in seen_pages if roles[re.search(r'assignment_id" value="([^"]+)', p)[1]] == "gold"
    ]
    main_pages = [
        p for p in seen_pages if roles[re.search(r'assignment_id" value="([^"]+)', p)[1]] == "main"
    ]
    assert gold_pages and main_pages

    def shape(page: str) -> str:  # the page with its varying values blanked
        page = re.sub(r'id="item-text">.*?<', "", page, flags=re.S)
        page = re.sub(r'name="assignment_id" value="[^"]+"', "", page)  # a random key
        return re.sub(r"\d+", "N", page)

    # a gold check looks exactly like a main item: nothing marks it or its answer
    assert {shape(p) for p in gold_pages} == {shape(p) for p in main_pages}
    for page in seen_pages:
        assert "correct answer" not in page and "gold" not in page.lower()


def test_forms_without_the_csrf_token_are_refused(lab) -> None:
    token = lab.invite(lab.study())[0]
    assert lab.client.post(f"/r/{token}/start", data={}).status_code == 403
    lab.start(token)
    aid = lab.current(token)[0]
    for csrf in ("", "0" * 64):
        r = lab.client.post(
            f"/r/{token}/answer",
            data={"csrf": csrf, "assignment_id": aid, "answer": "true", "confidence": "90"},
        )
        assert r.status_code == 403
    assert lab.labels() == []


def test_dashboard_requires_login(lab) -> None:
    study = lab.study()
    for path in (
        "/dashboard",
        f"/dashboard/{study}",
        f"/dashboard/{study}/labels.csv",
        f"/dashboard/{study}/plot.png",
    ):
        r = lab.client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login", path
    # a rater's token is no key to the dashboard
    token = lab.invite(study)[0]
    r = lab.client.get(
        f"/dashboard/{study}/labels.csv", params={"token": token}, follow_redirects=False
    )
    assert r.status_code == 303


def test_login_checks_password_and_csrf(lab) -> None:
    with lab.Sessions.begin() as s:
        set_researcher(s, "ada", PASSWORD)
    page = lab.client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    wrong = lab.client.post("/login", data={"username": "ada", "password": "guess", "csrf": csrf})
    assert wrong.status_code == 401 and "wrong username or password" in wrong.text
    nobody = lab.client.post("/login", data={"username": "eve", "password": PASSWORD, "csrf": csrf})
    assert nobody.status_code == 401
    no_csrf = lab.client.post("/login", data={"username": "ada", "password": PASSWORD})
    assert no_csrf.status_code == 403
    assert lab.client.get("/dashboard", follow_redirects=False).status_code == 303


def test_password_is_stored_as_argon2_hash(lab) -> None:
    with lab.Sessions.begin() as s:
        set_researcher(s, "ada", PASSWORD)
    with lab.Sessions() as s:
        stored = s.scalar(select(Researcher.password_hash))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    with pytest.raises(Exception, match="at least 10 characters"), lab.Sessions.begin() as s:
        set_researcher(s, "bob", "short")


def test_logout_needs_csrf_and_ends_the_session(lab, researcher) -> None:
    assert researcher.get("/dashboard").status_code == 200
    assert researcher.post("/logout", data={}).status_code == 403
    page = researcher.get("/dashboard").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    assert (
        researcher.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    )
    assert researcher.get("/dashboard", follow_redirects=False).status_code == 303


def test_model_output_and_rater_text_are_escaped(lab, researcher) -> None:
    study = lab.study(explanation=XSS)
    unassisted, assisted = lab.invite(study, 2)
    for token in (unassisted, assisted):
        csrf = lab.start(token)
        while (cur := lab.current(token)) is not None:
            page = cur[2]
            assert "<script>window" not in page and "<img src=x" not in page
            if token == assisted:
                assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in page
                assert "onerror=&#34;window.__xss" in page or "onerror=&quot;" in page
            lab.answer(token, csrf, cur[0], True, reason=XSS[:200])
    headers = lab.client.get(f"/r/{assisted}").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"
    dash = researcher.get(f"/dashboard/{study}").text
    assert "<script>window" not in dash
    csv = researcher.get(f"/dashboard/{study}/labels.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert "window.__xss" in csv.text  # the data itself is kept, only pages escape it


def test_failed_logins_are_throttled(lab) -> None:
    with lab.Sessions.begin() as s:
        set_researcher(s, "ada", PASSWORD)
    page = lab.client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)

    def login(password: str) -> int:
        form = {"username": "ada", "password": password, "csrf": csrf}
        return lab.client.post("/login", data=form, follow_redirects=False).status_code

    assert [login(f"guess {i}") for i in range(5)] == [401] * 5
    assert login(PASSWORD) == 429  # even the right password, until the window passes
    assert lab.client.get("/dashboard", follow_redirects=False).status_code == 303


def test_login_throttle_delays_grow_and_are_forgotten() -> None:
    from sandwich.feedback.web.security import LoginThrottle

    now = [0.0]
    t = LoginThrottle(
        free_per_user=2,
        free_per_address=100,
        base_delay=1.0,
        forget_after=50.0,
        clock=lambda: now[0],
    )
    assert t.attempt("a", "ip1") == 0 and t.attempt("a", "ip1") == 0  # the free ones
    assert t.attempt("a", "ip1") == 1.0  # then 1 s after the last failure
    assert t.attempt("a", "ip2") == 0 and t.attempt("b", "ip1") == 0  # other pairs are free
    now[0] = 1.0
    assert t.attempt("a", "ip1") == 0
    assert t.attempt("a", "ip1") == 2.0  # 2 s after the 3rd failure, then 4, 8, ...
    now[0] = 3.0
    assert t.attempt("a", "ip1") == 0
    assert t.attempt("a", "ip1") == 4.0
    t.succeeded("a", "ip1")  # a right password clears the pair
    assert t.attempt("a", "ip1") == 0
    now[0] = 1000.0  # idle entries are dropped
    t.attempt("c", "ip3")
    assert set(t.entries()) == {("addr", "ip3"), ("user", "c", "ip3")}
    many = LoginThrottle(max_entries=100, clock=lambda: now[0])
    for i in range(1000):
        many.attempt(f"user{i}", f"10.0.{i // 250}.{i % 250}")
    assert len(many) <= 100
