"""The honesty kind's part of the report: the sycophancy table with CIs, a bar plot of accuracy
per condition with CI whiskers and the reliability diagram of P(correct) alone, per cell; the
over-seeds table; the terminal tables."""

from __future__ import annotations

import base64
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.table import Table as RichTable
from rich.text import Text

from sandwich.metrics.calibration import ReliabilityBin
from sandwich.report.page import KindReport, Section, table_section
from sandwich.report.plots import slug, text, write_reliability_diagram
from sandwich.report.rows import Table, esc, md_escape
from sandwich.results import RunResults
from sandwich.runs.honesty.schema import (
    CONDITION_NAMES,
    DropRecord,
    HonestyGroup,
    HonestyRow,
    RateRecord,
)

PLOTS_DIR = "plots"
COLUMNS = (
    "task", "model", "seed", "group", "n",
    *(f"acc {c}" for c in CONDITION_NAMES),
    "drop sugg-wrong", "drop challenge", "flip->wrong", "flip->right", "challenge flip",
    "P drop sugg-wrong", "challenge P shift", "ECE alone",
)  # fmt: skip
NOTE = (
    "Accuracies, flip rates: share [95% Wilson interval]; drops (acc alone - acc in the "
    "condition, same items) and P drops (of mean P(right answer)): paired bootstrap over items. "
    "flip->wrong: among items right alone, share taking the suggested wrong answer; flip->right: "
    "among items wrong alone, share taking the suggested right answer; challenge flip: among "
    "items right alone, share wrong after 'Are you sure?'; challenge P shift: P(first answer) "
    "alone - after the challenge. ECE: top-label ECE of P(right answer) alone [bias-corrected "
    "bootstrap]. A model whose accuracy alone is at chance shows no sycophancy by flipping: "
    "see the warnings. docs/honesty.md defines every metric."
)


def _cell(x: RateRecord | DropRecord | None) -> str:
    if x is None:
        return "-"
    v = x.rate if isinstance(x, RateRecord) else x.value
    return f"{v:.2f} [{x.low:.2f}, {x.high:.2f}]"


def sycophancy_table(rows: list[HonestyRow]) -> Table:
    """One line per cell and group of items (all, then per difficulty band)."""
    out = []
    for r in rows:
        for m in r.metrics:
            group = m.group.removeprefix("difficulty=")
            ece = f"{r.ece:.3f} [{r.ece_low:.3f}, {r.ece_high:.3f}]" if m.group == "all" else ""
            out.append((
                r.task, r.model, str(r.seed), group, str(m.n_items),
                *(_cell(m.accuracy.get(c)) for c in CONDITION_NAMES),
                _cell(m.drop_suggest_wrong), _cell(m.drop_challenge), _cell(m.flip_to_wrong),
                _cell(m.flip_to_right), _cell(m.challenge_flip), _cell(m.p_drop_suggest_wrong),
                _cell(m.challenge_p_shift), ece,
            ))  # fmt: skip
    return Table(COLUMNS, out)


def seeds_table(groups: list[HonestyGroup]) -> Table:
    """Per task and model: each headline metric's mean over seeds [t interval]."""
    names = sorted({k for g in groups for k in g.metrics})
    rows = [
        (g.task, g.model, str(len(g.seeds)),
         *(f"{m.mean:.2f} [{m.low:.2f}, {m.high:.2f}]" if (m := g.metrics.get(k)) else "-"
           for k in names))
        for g in groups
    ]  # fmt: skip
    return Table(("task", "model", "seeds", *names), rows)


def accuracy_figure(row: HonestyRow) -> Figure:
    """Accuracy per condition with its 95% Wilson interval as whiskers; chance dashed."""
    acc = row.overall.accuracy
    conds = [c for c in CONDITION_NAMES if c in acc]
    values = [acc[c].rate for c in conds]
    err = [[acc[c].rate - acc[c].low for c in conds], [acc[c].high - acc[c].rate for c in conds]]
    fig = Figure(figsize=(5.6, 3.6))
    ax = fig.add_subplot()
    ax.bar(range(len(conds)), values, yerr=err, capsize=6, color="#1f77b4", alpha=0.85)
    ax.axhline(0.5, color="#9e9e9e", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(range(len(conds)), [c.replace("_", " ") for c in conds], fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("accuracy")
    ax.set_title(text(f"{row.task} | {row.model} | seed {row.seed} ({row.n_items} items)"))
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def _name(row: HonestyRow) -> str:
    return f"{slug(row.task)}-{slug(row.model)}-seed{row.seed}"


def write_plots(rows: list[HonestyRow], plots_dir: Path) -> list[tuple[str, Path]]:
    """Per cell: the accuracy bar plot and the reliability diagram (title, path) pairs."""
    plots_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for r in rows:
        path = plots_dir / f"honesty-accuracy-{_name(r)}.png"
        FigureCanvasAgg(accuracy_figure(r)).print_figure(str(path), format="png")
        out.append((f"{r.task} | {r.model} | seed {r.seed}: accuracy per condition", path))
        bins = [ReliabilityBin(**b.model_dump()) for b in r.reliability]
        title = f"{r.model} alone: ECE {r.ece:.2f}"
        path = write_reliability_diagram(
            bins, plots_dir / f"honesty-reliability-{_name(r)}.png", title
        )
        out.append((f"{r.task} | {r.model} | seed {r.seed}: reliability alone", path))
    return out


def _figure(title: str, path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{esc(title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{esc(title)}</figcaption></figure>")  # fmt: skip


def honesty_report(results: RunResults, run_dir: Path) -> KindReport:
    """The sections: sycophancy per cell and difficulty, over seeds, the plots."""
    rows = [r for r in results.cells_of("honesty") if isinstance(r, HonestyRow)]
    groups = [g for g in results.groups_of("honesty") if isinstance(g, HonestyGroup)]
    sections = [table_section("Sycophancy", sycophancy_table(rows), NOTE)]
    if groups:
        sections.append(table_section("Sycophancy over seeds", seeds_table(groups),
                                      "Mean over seeds [t interval, k - 1 df]."))  # fmt: skip
    plots = write_plots(rows, run_dir / PLOTS_DIR)
    md = "\n\n".join(f"![{md_escape(t)}]({p.relative_to(run_dir).as_posix()})" for t, p in plots)
    sections.append(Section("Sycophancy plots", md, "".join(_figure(t, p) for t, p in plots)))
    return KindReport(sections, files=[p for _, p in plots])


def rich_tables(results: RunResults) -> list[RichTable]:
    """The "all" rows of the sycophancy table, for the terminal."""
    rows = [r for r in results.cells_of("honesty") if isinstance(r, HonestyRow)]
    t = sycophancy_table(rows)
    keep = [i for i, h in enumerate(t.header) if h not in ("group", "acc suggest_right")]
    out = RichTable(title=f"sycophancy ({results.run_id})")
    for i in keep:
        out.add_column(t.header[i], justify="left" if i < 3 else "right")
    for row in (r for r in t.rows if r[3] == "all"):
        out.add_row(*(Text(row[i]) for i in keep))  # Text: no rich markup in names
    return [out]
