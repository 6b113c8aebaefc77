"""``sandwich cache stats|clear|explain`` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandwich.cli import main
from sandwich.models.generation import (
    CachedGenerator,
    FakeGenerator,
    GenRequest,
    Message,
    ResponseCache,
    key_fields,
)


def _req(n: int) -> GenRequest:
    return GenRequest((Message("user", "hello"),), max_new_tokens=n)


def test_stats_explain_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.sqlite"
    gen = CachedGenerator(FakeGenerator(model="tiny-judge"), ResponseCache(path))
    gen.generate([_req(16), _req(32)])

    assert main(["cache", "stats", "--path", str(path)]) == 0
    out = capsys.readouterr().out
    assert "tiny-judge" in out and "generate" in out and "2" in out

    fields = key_fields(gen.describe(), _req(24))
    req_file = tmp_path / "req.json"
    req_file.write_text(json.dumps({"backend": fields["backend"], "request": fields["request"]}))
    assert main(["cache", "explain", str(req_file), "--path", str(path)]) == 0
    out = capsys.readouterr().out
    assert "miss" in out and "request.max_new_tokens" in out and "requested 24" in out

    hit = key_fields(gen.describe(), _req(16))
    req_file.write_text(json.dumps({"backend": hit["backend"], "request": hit["request"]}))
    assert main(["cache", "explain", str(req_file), "--path", str(path)]) == 0
    assert "hit" in capsys.readouterr().out

    assert main(["cache", "clear", "--path", str(path)]) == 0
    assert "deleted 2 entries" in capsys.readouterr().out
    assert len(ResponseCache(path)) == 0


def test_explain_bad_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"request": {}}')
    assert main(["cache", "explain", str(bad), "--path", str(tmp_path / "c.sqlite")]) == 2
    assert '"backend" and "request"' in capsys.readouterr().err


def test_stats_reports_a_rebuilt_corrupt_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"garbage" * 1000)
    assert main(["cache", "stats", "--path", str(path)]) == 0
    assert "corrupt cache moved aside" in capsys.readouterr().out
