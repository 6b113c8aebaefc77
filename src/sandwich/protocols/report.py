"""Report of a protocol run: judge accuracy table (CIs, calibration, gap closed),
position bias, seed aggregates, consultancy split, and a few rendered
transcripts; markdown, HTML and terminal."""

from __future__ import annotations

import html
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from rich.table import Table as RichTable

from sandwich.protocols.naive import ASSISTANT_ALONE
from sandwich.protocols.results import (
    FEW_SEEDS,
    FLAG_FEW_SEEDS,
    FLAG_ONE_ORDER,
    ONE_ORDER_MAX,
    ProtocolResults,
    ProtocolRow,
    SeedAggregate,
)
from sandwich.protocols.transcripts import JudgementRecord, TranscriptRecord, TurnRecord
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
    "one order",
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
                str(r.n_one_order),
                str(r.n_failed),
                quotes,
                ", ".join(r.flags),
            )
        )
    return Table(HEADER, out)


def _acc_ci(value: float | None, ci: tuple[float, float] | None) -> str:
    return "-" if value is None else f"{num(value)} {_ci(ci)}"


def position_table(rows: Sequence[ProtocolRow]) -> Table | None:
    """Judge accuracy by where the right answer was shown and by who spoke first."""
    body: list[tuple[str, ...]] = [
        (
            r.protocol,
            str(r.seed),
            "-" if r.position_n is None else str(r.position_n),
            _acc_ci(r.acc_right_shown_first, r.acc_right_shown_first_ci),
            _acc_ci(r.acc_right_shown_second, r.acc_right_shown_second_ci),
            _acc_ci(r.position_bias, r.position_bias_ci),
            "-" if r.speaking_n is None else str(r.speaking_n),
            _acc_ci(r.acc_right_spoke_first, r.acc_right_spoke_first_ci),
            _acc_ci(r.acc_right_spoke_second, r.acc_right_spoke_second_ci),
            _acc_ci(r.speaking_bias, r.speaking_bias_ci),
        )
        for r in rows
        if r.position_n is not None or r.speaking_n is not None
    ]
    if not body:
        return None
    head = (
        "protocol",
        "seed",
        "n (both orders)",
        "acc, right shown first [95% CI]",
        "acc, right shown second",
        "first - second",
        "n (both speakers)",
        "acc, right spoke first",
        "acc, right spoke second",
        "first - second ",
    )
    return Table(head, body)


POSITION_NOTE = (
    "Position bias: the judge's accuracy from one answer order alone, on the items "
    "judged in both, when the right answer was shown first (A) and when it was shown "
    "second (B); a judge without position bias has a difference near 0, one that "
    "always says A scores 1 and 0. Speaking order (debate): the same when the right "
    "answer's debater spoke first and when it spoke second in every round. The "
    "order-averaged judge accuracy above cancels both biases (every item is judged "
    "with each answer shown first and, in debate, each side speaking first); these "
    "columns show how large they are. CIs: paired percentile bootstrap over items."
)


def aggregate_table(aggs: Sequence[SeedAggregate]) -> Table | None:
    if not aggs:
        return None
    body: list[tuple[str, ...]] = []
    for a in aggs:
        if a.gap_closed is None:
            gap_ci = "n/a"
        else:
            gap_ci = _ci(a.gap_closed_ci) if a.gap_closed_bounded else "unbounded"
        body.append(
            (
                a.protocol,
                str(a.k),
                num(a.accuracy),
                _ci(a.accuracy_ci),
                num(a.gap_closed),
                gap_ci,
                ", ".join(a.flags),
            )
        )
    head = (
        "protocol",
        "seeds",
        "judge acc",
        "95% CI (t)",
        "gap closed",
        "95% CI (Fieller)",
        "flags",
    )
    return Table(head, body)


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


def _turn_tag(t: TurnRecord) -> str:
    side = "" if t.argues_for is None else f"for {t.argues_for}"
    debate = "" if t.first_speaker is None else f"debate with {t.first_speaker} first"
    tags = ", ".join(x for x in (side, debate) if x)
    return f" ({tags})" if tags else ""


def _first_tag(j: JudgementRecord) -> str:
    return "" if j.first_speaker is None else f", choice {j.first_speaker}'s side spoke first"


def transcript_markdown(r: TranscriptRecord) -> str:
    lines = [f"### {md_escape(r.protocol)} · item {r.item_id} · seed {r.seed}", ""]
    lines.append(f"**Question**: {md_escape(r.question)}  ")
    lines.append(
        f"**Answers**: (0) {md_escape(r.choices[0])} · (1) {md_escape(r.choices[1])} "
        f"· right: ({r.correct})  "
    )
    for t in r.turns:
        lines.append(
            f"> **{md_escape(t.speaker)}{_turn_tag(t)}**: {md_escape(t.text or t.error or '')}"
        )
        lines.append(">")
    for j in r.judgements:
        lines.append(
            f"- judge, order {j.order} (A = choice {j.shown[0]}){_first_tag(j)}: "
            f"P(A) = {num(j.p_a)} via {j.method}"
        )
    lines.append(f"- P(right answer) = {num(r.p_correct)} · status {r.status}")
    return "\n".join(lines) + "\n"


AGGREGATE_NOTE = (
    "Each seed is one replicate. Judge acc: mean of the per-seed accuracies, t interval "
    "on k - 1 degrees of freedom. Gap closed: mean(protocol - naive) / mean(expert - "
    "naive) over seeds, Fieller's interval (unbounded when the mean gap is not clearly "
    f"above 0). {FLAG_FEW_SEEDS}: fewer than {FEW_SEEDS} seeds, so the interval is rough."
)


def accuracy_note(results: ProtocolResults) -> str:
    """What the accuracy table's numbers are, including the assistant-alone reference."""
    alone = [r for r in results.rows if r.protocol == ASSISTANT_ALONE and r.accuracy is not None]
    ref = ""
    if alone:
        accs = ", ".join(f"{num(r.accuracy)} (seed {r.seed})" for r in alone)
        ref = (
            f" For reference, the assistant model answering directly with the passage "
            f"(row {ASSISTANT_ALONE}) scores {accs}: the expert = 1 is the answer key, not "
            "the assistant."
        )
    seeds = {r.seed for r in results.rows}
    within = (
        " One seed: every CI here is within-seed (items resampled); seed-to-seed "
        "variation is not in it."
        if len(seeds) == 1
        else ""
    )
    return (
        "Judge accuracy: P(right answer) averaged over both answer orders (and, in "
        "debate, both speaking orders), > 0.5 counts 1, = 0.5 counts 0.5. Gap closed = "
        "(protocol - naive) / (expert - naive), expert = 1 (the answer key), on the same "
        "items; flagged small-gap when the CI of expert - naive includes 0. CIs: "
        "percentile bootstrap over items. one order: items judged in one answer order "
        f"only (the other unparsed); flagged {FLAG_ONE_ORDER} above {ONE_ORDER_MAX:.0%} of "
        "items." + ref + within
    )


def render_markdown(results: ProtocolResults, shown: Sequence[TranscriptRecord]) -> str:
    parts = [f"# sandwich protocol report: {md_escape(results.run_id)}", ""]
    for role, d in results.models.items():
        what = f"{d.get('model', d)} ({d.get('backend', '')})"
        parts.append(f"- **{role}**: {md_escape(what)}")
    parts += ["", "## Warnings", ""]
    parts += [f"- ⚠ {md_escape(w)}" for w in results.warnings] or ["None."]
    parts += ["", "## Judge accuracy", "", md_table(accuracy_table(results.rows)), ""]
    parts += [md_escape(accuracy_note(results)), ""]
    if (pt := position_table(results.rows)) is not None:
        parts += ["## Position bias", "", md_table(pt), "", md_escape(POSITION_NOTE), ""]
    if (at := aggregate_table(results.aggregates)) is not None:
        parts += ["## Over seeds", "", md_table(at), "", md_escape(AGGREGATE_NOTE), ""]
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
        f"<p><b>{e(t.speaker)}</b>{e(_turn_tag(t))}: {e(t.text or t.error or '')}</p>"
        for t in r.turns
    )
    judged = "".join(
        f"<li>order {j.order}{e(_first_tag(j))}: P(A = choice {j.shown[0]}) = {num(j.p_a)} "
        f"via {e(j.method)}</li>"
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
    pt = position_table(results.rows)
    pos = (
        f"<h2>Position bias</h2>{_html_table(pt)}<p>{html.escape(POSITION_NOTE)}</p>" if pt else ""
    )
    at = aggregate_table(results.aggregates)
    agg = f"<h2>Over seeds</h2>{_html_table(at)}<p>{html.escape(AGGREGATE_NOTE)}</p>" if at else ""
    note = f"<p>{html.escape(accuracy_note(results))}</p>"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>protocols: '
        f"{html.escape(results.run_id)}</title><style>{css}</style></head><body>"
        f"<h1>sandwich protocol report: {html.escape(results.run_id)}</h1>"
        f"<h2>Warnings</h2><ul>{warn}</ul>"
        f"<h2>Judge accuracy</h2>{_html_table(accuracy_table(results.rows))}{note}"
        f"{pos}{agg}{split}<h2>Transcripts</h2>"
        f"{''.join(_html_transcript(r) for r in shown)}</body></html>\n"
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
