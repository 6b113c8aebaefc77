"""``sandwich study ...`` from the command line, on a SQLite file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sandwich.cli import main
from sandwich.feedback.analysis.label_frame import read_labels

from .conftest import Lab, write_study  # type: ignore[import-not-found]


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    monkeypatch.setenv("SANDWICH_DB", url)
    return url


def test_create_invite_status_export(tmp_path: Path, db: str, capsys) -> None:
    path = write_study(tmp_path / "files")
    assert main(["study", "create", str(path)]) == 0
    out = capsys.readouterr().out
    assert "12 items x 2 conditions x overlap 2 = 48 labels wanted" in out
    assert main(["study", "invite", "demo-study", "--n", "3", "--base-url", "http://x:1"]) == 0
    out = capsys.readouterr().out
    tokens = re.findall(r"http://x:1/r/([A-Za-z0-9_-]+)", out)
    assert len(set(tokens)) == 3
    assert "http://x:1/s/demo-study/start?PID=" in out
    lab = Lab(tmp_path, db)  # the same database, through the app
    for token in tokens:
        lab.finish(token)
    assert main(["study", "status", "demo-study"]) == 0
    out = capsys.readouterr().out
    assert "raters invited 3, started 3, finished 3" in out
    assert re.search(r"unassisted\s*│\s*none\s*│\s*24\s*│\s*8\s*│\s*8\s*│\s*0\s*│", out)
    assert "gold right" in out and "alpha" in out and "sandwich gap closed" in out
    for name in ("labels.csv", "labels.jsonl"):
        target = tmp_path / name
        assert main(["study", "export", "demo-study", "-o", str(target)]) == 0
        assert "name: human" in capsys.readouterr().out
        frame = read_labels(target)  # the aggregation layer reads the export as is
        assert len(frame) == 3 * 6 and frame["truth"].notna().all()
        assert set(frame["condition"]) == {"unassisted", "assisted"}


def test_cli_errors_are_clear_and_write_nothing(tmp_path: Path, db: str, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\noverlap: -1\n")
    assert main(["study", "create", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "overlap" in err and "task" in err
    assert main(["study", "invite", "nope", "--n", "2"]) == 2
    assert "no study named 'nope'" in capsys.readouterr().err
    path = write_study(tmp_path / "files")
    assert main(["study", "create", str(path)]) == 0
    assert main(["study", "export", "demo-study", "-o", str(tmp_path / "x.xlsx")]) == 2
    assert not (tmp_path / "x.xlsx").exists()


def test_researcher_password_from_env(tmp_path: Path, db: str, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SANDWICH_RESEARCHER_PASSWORD", "a long enough secret")
    assert main(["study", "researcher", "ada"]) == 0
    lab = Lab(tmp_path, db)
    page = lab.client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    r = lab.client.post(
        "/login",
        data={"username": "ada", "password": "a long enough secret", "csrf": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303
    monkeypatch.setenv("SANDWICH_RESEARCHER_PASSWORD", "short")
    assert main(["study", "researcher", "bob"]) == 2


def test_export_reads_the_labels_it_writes_once(
    tmp_path: Path, db: str, capsys, monkeypatch
) -> None:
    """The file and the exclusion note come from one read of the labels (one
    session): a label arriving in between cannot make them disagree."""
    from sandwich.feedback.analysis import export
    from sandwich.feedback.analysis import study_status as status

    path = write_study(tmp_path / "files")
    assert main(["study", "create", str(path)]) == 0
    assert main(["study", "invite", "demo-study", "--n", "1", "--base-url", "http://x:1"]) == 0
    (token,) = re.findall(r"http://x:1/r/([A-Za-z0-9_-]+)", capsys.readouterr().out)
    Lab(tmp_path, db).finish(token)
    reads: list[bool] = []
    real = status.labels_frame

    def counted(s, study, include_training=True, **kw):  # type: ignore[no-untyped-def]
        reads.append(include_training)
        return real(s, study, include_training=include_training, **kw)

    monkeypatch.setattr(status, "labels_frame", counted)
    monkeypatch.setattr(export, "labels_frame", counted)
    assert main(["study", "export", "demo-study", "-o", str(tmp_path / "l.csv")]) == 0
    assert reads.count(False) == 1  # the exported labels (training left out): read once
    assert len(read_labels(tmp_path / "l.csv")) == 6
