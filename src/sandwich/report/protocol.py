"""The protocol kind's sections of the report: judge accuracy (CIs, calibration, gap
closed), position bias, seed aggregates, consultancy split, and a few rendered
transcripts; and its terminal table."""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table as RichTable

from sandwich.errors import InputFileError
from sandwich.protocols.naive import ASSISTANT_ALONE
from sandwich.protocols.results import (
    FEW_SEEDS,
    FLAG_FEW_SEEDS,
    FLAG_ONE_ORDER,
    FLAG_SMALL_GAP,
    ONE_ORDER_MAX,
    ProtocolRow,
)
from sandwich.protocols.transcripts import (
    JudgementRecord,
    TranscriptRecord,
    TurnRecord,
    read_transcripts,
)
from sandwich.report.calibration import write_protocol_reliability
from sandwich.report.page import KindReport, Section, table_section
from sandwich.report.rows import Column, Table, md_escape, num, rich, table
from sandwich.report.w2s import PLOTS_DIR, calibration_section
from sandwich.results import RunResults

log = logging.getLogger(__name__)

CALIBRATION_NOTE = (
    "Reliability of each judge's P(right answer): accuracy against mean top-label "
    "confidence in 10 equal-width bins, the seeds' bins pooled; the diagonal is perfect "
    "calibration, and an unparsed verdict counts as P = 0.5."
)


def _ci(ci: tuple[float, float] | None) -> str:
    return "n/a" if ci is None else f"[{num(ci[0])}, {num(ci[1])}]"


def _acc_ci(value: float | None, ci: tuple[float, float] | None) -> str:
    return "-" if value is None else f"{num(value)} {_ci(ci)}"


def _count(n: int | None) -> str:
    return "-" if n is None else str(n)


WHICH: list[Column] = [("protocol", lambda r: r.protocol), ("seed", lambda r: str(r.seed))]
ACCURACY_COLUMNS: list[Column] = [
    *WHICH,
    ("n", lambda r: str(r.n_scored)),
    ("judge acc", lambda r: num(r.accuracy)),
    ("95% CI", lambda r: _ci(r.accuracy_ci)),
    ("ECE", lambda r: num(r.ece)),
    ("Brier", lambda r: num(r.brier)),
    ("gap closed", lambda r: num(r.gap_closed)),
    ("95% CI ", lambda r: _ci(r.gap_closed_ci)),
    ("unparsed", lambda r: str(r.n_unparsed)),
    ("one order", lambda r: str(r.n_one_order)),
    ("failed", lambda r: str(r.n_failed)),
    ("quotes ok", lambda r: f"{r.quotes_verified}/{r.quotes}" if r.quotes else "-"),
    ("flags", lambda r: ", ".join(r.flags)),
]
POSITION_COLUMNS: list[Column] = [
    *WHICH,
    ("n (both orders)", lambda r: _count(r.position_n)),
    ("acc, right shown first [95% CI]",
     lambda r: _acc_ci(r.acc_right_shown_first, r.acc_right_shown_first_ci)),
    ("acc, right shown second",
     lambda r: _acc_ci(r.acc_right_shown_second, r.acc_right_shown_second_ci)),
    ("position bias (first - second)", lambda r: _acc_ci(r.position_bias, r.position_bias_ci)),
    ("n (both speakers)", lambda r: _count(r.speaking_n)),
    ("acc, right spoke first",
     lambda r: _acc_ci(r.acc_right_spoke_first, r.acc_right_spoke_first_ci)),
    ("acc, right spoke second",
     lambda r: _acc_ci(r.acc_right_spoke_second, r.acc_right_spoke_second_ci)),
    ("speaking bias (first - second)", lambda r: _acc_ci(r.speaking_bias, r.speaking_bias_ci)),
]  # fmt: skip
AGGREGATE_COLUMNS: list[Column] = [
    ("protocol", lambda a: a.protocol),
    ("seeds", lambda a: str(a.k)),
    ("judge acc", lambda a: num(a.accuracy)),
    ("95% CI (t)", lambda a: _ci(a.accuracy_ci)),
    ("gap closed", lambda a: num(a.gap_closed)),
    ("95% CI (Fieller)", lambda a: "n/a" if a.gap_closed is None
     else _ci(a.gap_closed_ci) if a.gap_closed_bounded else "unbounded"),
    ("flags", lambda a: ", ".join(a.flags)),
]  # fmt: skip
CONSULTANCY_COLUMNS: list[Column] = [
    *WHICH,
    ("acc (consultant right)", lambda r: num(r.consultant_right_accuracy)),
    ("95% CI", lambda r: _ci(r.consultant_right_ci)),
    ("acc (consultant wrong)", lambda r: num(r.consultant_wrong_accuracy)),
    ("95% CI ", lambda r: _ci(r.consultant_wrong_ci)),
]


def accuracy_table(rows: Sequence[ProtocolRow]) -> Table:
    """One row per protocol and seed (and task, when the run has several)."""
    several = len({r.task for r in rows}) > 1
    return table([("task", lambda r: r.task)] * several + ACCURACY_COLUMNS, rows)


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


def shown_transcripts(rows: Sequence[ProtocolRow], run_dir: Path, k: int) -> list[TranscriptRecord]:
    """The first ``k`` transcripts with turns of every row, read from the run directory
    (a missing or unreadable file is skipped with a log line)."""
    out = []
    for r in rows:
        try:
            recs = read_transcripts(run_dir / r.transcripts)
        except InputFileError as exc:
            log.warning("report: transcripts not shown (%s)", exc)
            continue
        out += [t for t in recs if t.turns][:k]
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


def accuracy_note(rows: Sequence[ProtocolRow]) -> str:
    """What the accuracy table's numbers are, including the assistant-alone reference."""
    alone = [r for r in rows if r.protocol == ASSISTANT_ALONE and r.accuracy is not None]
    ref = ""
    if alone:
        accs = ", ".join(f"{num(r.accuracy)} (seed {r.seed})" for r in alone)
        ref = (
            f" For reference, the assistant model answering directly with the passage "
            f"(row {ASSISTANT_ALONE}) scores {accs}: the expert = 1 is the answer key, not "
            "the assistant."
        )
    seeds = {r.seed for r in rows}
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
        f"items; flagged {FLAG_SMALL_GAP} when the CI of expert - naive includes 0. CIs: "
        "percentile bootstrap over items. one order: items judged in one answer order "
        f"only (the other unparsed); flagged {FLAG_ONE_ORDER} above {ONE_ORDER_MAX:.0%} of "
        "items." + ref + within
    )


def transcript_html(r: TranscriptRecord) -> str:
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


def protocol_report(results: RunResults, run_dir: Path) -> KindReport:
    """The sections: judge accuracy, position bias, over seeds, consultancy, transcripts."""
    rows = results.protocol_rows()
    # position bias: judge accuracy by where the right answer was shown and who spoke first
    positioned = [r for r in rows if r.position_n is not None or r.speaking_n is not None]
    consultancy = [r for r in rows if r.name == "consultancy"]
    sections = [
        table_section(title, t, note)
        for title, t, note in [
            ("Judge accuracy", accuracy_table(rows), accuracy_note(rows)),
            ("Position bias", table(POSITION_COLUMNS, positioned), POSITION_NOTE),
            ("Over seeds", table(AGGREGATE_COLUMNS, results.protocol_aggregates()), AGGREGATE_NOTE),
            ("Consultancy by the consultant's side", table(CONSULTANCY_COLUMNS, consultancy), ""),
        ]
        if t.rows  # the protocol kind reports only runs with protocol rows
    ]
    if reliability := write_protocol_reliability(rows, run_dir / PLOTS_DIR):
        sections.append(calibration_section(reliability, run_dir, CALIBRATION_NOTE))
    k = int(results.config.get("transcripts_in_report", 2))
    shown = shown_transcripts(rows, run_dir, k)
    sections.append(
        Section(
            "Transcripts",
            "\n".join(transcript_markdown(r) for r in shown),
            "".join(transcript_html(r) for r in shown),
        )
    )
    return KindReport(sections, files=[p.path for p in reliability])


def rich_table(results: RunResults) -> RichTable:
    return rich(accuracy_table(results.protocol_rows()), f"judge accuracy ({results.run_id})")
