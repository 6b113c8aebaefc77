from __future__ import annotations

import re
from pathlib import Path

import pytest
from matplotlib.image import imread

from sandwich.report import format_table, table_text
from sandwich.report.plots import slug
from sandwich.report.rows import group_table
from sandwich.results import RunResults
from sandwich.runs import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_files_exist_and_plots_are_pngs(results: RunResults, tmp_path: Path) -> None:
    files = write_report(results, tmp_path)
    assert files.markdown == tmp_path / "report.md" and files.markdown.is_file()
    assert files.html == tmp_path / "report.html" and files.html.is_file()
    assert len(files.plots) == 4  # accuracy + PGR for each of two tasks
    for p in files.plots:
        assert p.parent == tmp_path / "plots"
        assert p.read_bytes()[:8] == PNG_MAGIC
        img = imread(p)
        assert img.shape[0] > 200 and img.shape[1] > 400


def test_html_is_self_contained_and_has_the_numbers(results: RunResults, tmp_path: Path) -> None:
    page = write_report(results, tmp_path).html.read_text()
    assert page.count("data:image/png;base64,") == 4
    assert "<style>" in page and "<link" not in page and 'src="plots/' not in page
    for row in group_table(results).rows:
        for value in row[5:9]:  # weak, student, ceiling acc, PGR [CI]
            assert value in page
    assert "test-run" in page and "n_boot: 2000" in page  # header and config as YAML
    assert "only 150 test items per seed" in page  # the run's warnings
    assert "small_gap" in page


def test_malicious_names_are_escaped(evil_results: RunResults, tmp_path: Path) -> None:
    files = write_report(evil_results, tmp_path)
    page = files.html.read_text()
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page
    md = files.markdown.read_text()
    # the config is shown verbatim inside a fenced code block (literal, never rendered)
    outside, _, config = md.partition("```yaml")
    assert "<script" not in outside.lower() and "<script" in config
    for p in files.plots:  # file names stay inside plots/ and are safe
        assert p.parent == tmp_path / "plots" and re.fullmatch(r"[A-Za-z0-9_.-]+", p.name)
    # a pipe in a name does not break the markdown table
    n_cols = len(group_table(evil_results).header)
    section = md.split("## PGR per group", 1)[1].split("## Plots", 1)[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("| cit")]
    assert len(rows) == 4  # the "cities | with pipe" groups
    assert all(len(re.findall(r"(?<!\\)\|", r)) == n_cols + 1 for r in rows)


def _md_table_rows(md: str, heading: str) -> list[list[str]]:
    lines = md.split(heading, 1)[1].strip().splitlines()[2:]  # skip the title's end, blank
    table = []
    for ln in lines:
        if not ln.startswith("|"):
            break
        table.append(ln)
    body = table[2:]  # header and separator
    return [[c.strip() for c in ln.strip("|").split(" | ")] for ln in body]


def test_markdown_rows_match_groups(results: RunResults, tmp_path: Path) -> None:
    md = write_report(results, tmp_path).markdown.read_text()
    rows = _md_table_rows(md, "## PGR per group")
    assert len(rows) == len(results.groups)
    for row, g in zip(rows, results.groups, strict=True):
        assert row[:4] == [g.task, g.weak, g.strong, g.elicitor]
        assert float(row[6]) == pytest.approx(g.student_acc, abs=5e-4)
        assert row[8].startswith(f"{g.pgr:.2f} [")
        assert row[9] == ", ".join(g.flags)
    cells = _md_table_rows(md, "## Per cell")
    assert len(cells) == len(results.cells)
    assert "(plots/pgr-cities.png)" in md


def test_terminal_table(results: RunResults) -> None:
    table = format_table(results)
    assert table.row_count == len(results.groups)
    assert [c.header for c in table.columns][-2:] == ["PGR [95% CI]", "flags"]
    text = table_text(results, width=200)
    assert "probe-logconf" in text and "small_gap" in text


def test_terminal_table_does_not_read_names_as_markup(results: RunResults) -> None:
    results.groups[0].task = "[bold]x[/bold]"
    assert "[bold]x[/bold]" in table_text(results, width=220)


def test_nan_pgr_is_rendered(results: RunResults, tmp_path: Path) -> None:
    results.groups[0].pgr = float("nan")
    results.groups[0].pgr_ci = (float("nan"), float("nan"))
    files = write_report(results, tmp_path)
    assert "n/a" in files.markdown.read_text()


def test_slug() -> None:
    assert slug("cities") == "cities"
    assert slug("a/b") != slug("a_b") and re.fullmatch(r"[A-Za-z0-9_.-]+", slug("../../x"))
    assert slug("<script>") != slug("<style>")


def test_seed_flags_are_explained_and_do_not_dim_rows(results: RunResults) -> None:
    from sandwich.report.content import flagged, used_flags, w2s_warnings
    from sandwich.results import FLAG_FEW_SEEDS, FLAG_SINGLE_SEED, FLAG_UNBOUNDED_CI

    g = results.groups[1]
    g.flags = [FLAG_FEW_SEEDS]
    results.groups[2].flags = [FLAG_SINGLE_SEED, FLAG_UNBOUNDED_CI]
    meanings = dict(used_flags(results))
    assert "does not include training-seed variance" in meanings[FLAG_SINGLE_SEED]
    assert "seeds are few" in meanings[FLAG_FEW_SEEDS]
    assert "unbounded" in meanings[FLAG_UNBOUNDED_CI]
    assert not flagged("few_seeds") and not flagged("single_seed")
    assert flagged("few_seeds, small_gap") and flagged([FLAG_UNBOUNDED_CI])
    # the side-by-side table prefixes each flag with its elicitor
    assert not flagged("probe: few_seeds, probe-logconf: single_seed")
    assert flagged("probe: few_seeds, probe-logconf: small_gap")
    # every group of the fixture predates ci_method: the report says so
    assert any("older sandwich" in w for w in w2s_warnings(results))


def test_unbounded_pgr_interval_renders(results: RunResults, tmp_path: Path) -> None:
    g = results.groups[0]
    g.pgr_ci = (None, None)
    assert f"{g.pgr:.2f}" in table_text(results)  # the point, without an interval
    write_report(results, tmp_path)
    assert f"| {g.pgr:.2f} |" in (tmp_path / "report.md").read_text()


def test_zero_supervision_rows_are_explained_and_not_dimmed(results: RunResults) -> None:
    """An unsupervised reporter's row says what it is (the legend explains the flag) but is
    not shown as a problem; an oracle reporter's row still is."""
    from sandwich.elicit.base import ZERO_SUPERVISION
    from sandwich.report.content import flagged, used_flags

    results.groups[0].flags = [ZERO_SUPERVISION]
    assert "fixed the sign" in dict(used_flags(results))[ZERO_SUPERVISION]
    assert not flagged([ZERO_SUPERVISION]) and not flagged("crc: few_seeds, zero_supervision")
    assert flagged("crc-oracle: oracle, zero_supervision")
