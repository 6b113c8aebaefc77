"""Report of a protocol run: judge accuracy table (CIs, calibration, gap closed),
consultancy split, and a few rendered transcripts; markdown, HTML and terminal."""

from __future__ import annotations

import html
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from rich.table import Table as RichTable

from sandwich.protocols.results import ProtocolResults, ProtocolRow
from sandwich.protocols.transcripts import TranscriptRecord
from sandwich.report.markdown_page import md_escape, md_table
from sandwich.report.rows import Table, num
from sandwich.store import atomic_write_text

HEADER = (
    "protocol",
    "seed",
    "n",
    "judge acc",
    "95% CI",
    "ECE",
    "Brier",
    "gap closed",
    "95% CI ",
    "unparsed",
    "failed",
    "quotes ok",
    "flags",
)


def _ci(ci: tuple[float, float] | None) -> str:
    return "n/a" if ci is None else f"[{num(ci[0])}, {num(ci[1])}]"


def accuracy_table(rows: Sequence[ProtocolRow]) -> Table:
    out: list[tuple[str, ...]] = []
    for r in rows:
        quotes = f"{r.quotes_verified}/{r.quotes}" if r.quotes else "-"
        out.append(
            (
                r.protocol,
                str(r.seed),
                str(r.n_scored),
                num(r.accuracy),
                _ci(r.accuracy_ci),
                num(r.ece),
                num(r.brier),
                num(r.gap_closed),
                _ci(r.gap_closed_ci),
                str(r.n_unparsed),
                str(r.n_failed),
                quotes,
                ", ".join(r.flags),
            )
        )
    return Table(HEADER, out)


def consultancy_table(rows: Sequence[ProtocolRow]) -> Table | None:
    body: list[tuple[str, ...]] = [
        (
            r.protocol,
            str(r.seed),
            num(r.consultant_right_accuracy),
            _ci(r.consultant_right_ci),
            num(r.consultant_wrong_accuracy),
            _ci(r.consultant_wrong_ci),
        )
        for r in rows
        if r.name == "consultancy"
    ]
    if not body:
        return None
    head = (
        "protocol",
        "seed",
        "acc (consultant right)",
        "95% CI",
        "acc (consultant wrong)",
        "95% CI ",
    )
    return Table(head, body)


def _shown(
    records: dict[tuple[str, int], list[TranscriptRecord]], k: int
) -> list[TranscriptRecord]:
    out = []
    for (_, _seed), recs in records.items():
        out += [r for r in recs if r.turns][:k]
    return out


def transcript_markdown(r: TranscriptRecord) -> str:
    lines = [f"### {md_escape(r.protocol)} · item {r.item_id} · seed {r.seed}", ""]
    lines.append(f"**Question**: {md_escape(r.question)}  ")
    lines.append(
        f"**Answers**: (0) {md_escape(r.choices[0])} · (1) {md_escape(r.choices[1])} "
        f"· right: ({r.correct})  "
    )
    for t in r.turns:
        side = "" if t.argues_for is None else f" (for {t.argues_for})"
        lines.append(f"> **{md_escape(t.speaker)}{side}**: {md_escape(t.text or t.error or '')}")
        lines.append(">")
    for j in r.judgements:
        lines.append(
            f"- judge, order {j.order} (A = choice {j.shown[0]}): P(A) = {num(j.p_a)} "
            f"via {j.method}"
        )
    lines.append(f"- P(right answer) = {num(r.p_correct)} · status {r.status}")
    return "\n".join(lines) + "\n"


def render_markdown(results: ProtocolResults, shown: Sequence[TranscriptRecord]) -> str:
    parts = [f"# sandwich protocol report: {md_escape(results.run_id)}", ""]
    for role, d in results.models.items():
        what = f"{d.get('model', d)} ({d.get('backend', '')})"
        parts.append(f"- **{role}**: {md_escape(what)}")
    parts += ["", "## Warnings", ""]
    parts += [f"- ⚠ {md_escape(w)}" for w in results.warnings] or ["None."]
    parts += ["", "## Judge accuracy", "", md_table(accuracy_table(results.rows)), ""]
    parts += [
        "Judge accuracy: P(right answer) averaged over both answer orders, > 0.5 counts "
        "1, = 0.5 counts 0.5. Gap closed = (protocol - naive) / (expert - naive), expert "
        "= 1 (the answer key), on the same items. CIs: percentile bootstrap over items.",
        "",
    ]
    if (ct := consultancy_table(results.rows)) is not None:
        parts += ["## Consultancy by the consultant's side", "", md_table(ct), ""]
    parts += ["## Transcripts", ""] + [transcript_markdown(r) for r in shown]
    return "\n".join(parts)


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in t.rows
    )
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _html_transcript(r: TranscriptRecord) -> str:
    e = html.escape
    turns = "".join(
        f"<p><b>{e(t.speaker)}</b>{'' if t.argues_for is None else f' (for {t.argues_for})'}: "
        f"{e(t.text or t.error or '')}</p>"
        for t in r.turns
    )
    judged = "".join(
        f"<li>order {j.order}: P(A = choice {j.shown[0]}) = {num(j.p_a)} via {e(j.method)}</li>"
        for j in r.judgements
    )
    return (
        f"<h3>{e(r.protocol)} · item {e(r.item_id)} · seed {r.seed}</h3>"
        f"<p><b>Question</b>: {e(r.question)}<br><b>Answers</b>: (0) {e(r.choices[0])} · "
        f"(1) {e(r.choices[1])} · right: ({r.correct})</p><blockquote>{turns}</blockquote>"
        f"<ul>{judged}<li>P(right answer) = {num(r.p_correct)} · {e(r.status)}</li></ul>"
    )


def render_html(results: ProtocolResults, shown: Sequence[TranscriptRecord]) -> str:
    css = resources.files("sandwich.report").joinpath("style.css").read_text(encoding="utf-8")
    warn = "".join(f"<li>⚠ {html.escape(w)}</li>" for w in results.warnings) or "<li>None.</li>"
    ct = consultancy_table(results.rows)
    split = f"<h2>Consultancy by the consultant's side</h2>{_html_table(ct)}" if ct else ""
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>protocols: '
        f"{html.escape(results.run_id)}</title><style>{css}</style></head><body>"
        f"<h1>sandwich protocol report: {html.escape(results.run_id)}</h1>"
        f"<h2>Warnings</h2><ul>{warn}</ul>"
        f"<h2>Judge accuracy</h2>{_html_table(accuracy_table(results.rows))}"
        f"{split}<h2>Transcripts</h2>{''.join(_html_transcript(r) for r in shown)}</body></html>\n"
    )


def write_protocol_report(
    results: ProtocolResults, run_dir: Path, records: dict[tuple[str, int], list[TranscriptRecord]]
) -> tuple[Path, Path]:
    k = int(results.config.get("transcripts_in_report", 2))
    shown = _shown(records, k)
    md, page = Path(run_dir) / "report.md", Path(run_dir) / "report.html"
    atomic_write_text(md, render_markdown(results, shown))
    atomic_write_text(page, render_html(results, shown))
    return md, page


def rich_table(results: ProtocolResults) -> RichTable:
    t = accuracy_table(results.rows)
    out = RichTable(title=f"judge accuracy ({results.run_id})")
    for h in t.header:
        out.add_column(h.strip())
    for row in t.rows:
        out.add_row(*row)
    return out
