"""The truth kind's report: the generalisation matrix (heat map and table) per model and
reporter at the matrix layer, the layer sweep (plot and table), a reliability diagram per
reporter, and the terminal tables."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.table import Table as RichTable

from sandwich.metrics.calibration import ReliabilityBin
from sandwich.report.page import KindReport, Section, table_section
from sandwich.report.plots import (
    Plot,
    layer_sweep_figure,
    matrix_figure,
    png_bytes,
    reliability_figure,
    slug,
)
from sandwich.report.rows import Table, md_escape, num, rich
from sandwich.report.w2s import PLOTS_DIR, figure
from sandwich.results import RunResults
from sandwich.runs.truth.schema import TruthRecord


def records(results: RunResults) -> list[TruthRecord]:
    return [r for r in results.cells_of("truth") if isinstance(r, TruthRecord)]


def _mean(xs: Sequence[float | None]) -> float:
    ok = [x for x in xs if x is not None]
    return float(np.mean(ok)) if ok else float("nan")


def _ci_text(values: Sequence[tuple[float | None, float | None, float | None]]) -> str:
    """One seed: ``v [lo, hi]``; several: the mean and the seeds' range."""
    vs = [v for v, _, _ in values if v is not None]
    if not vs:
        return "n/a"
    if len(values) == 1:
        v, lo, hi = values[0]
        return f"{num(v)} [{num(lo)}, {num(hi)}]"
    return f"{num(float(np.mean(vs)))} (seeds {num(min(vs))}-{num(max(vs))})"


def matrices(
    results: RunResults,
) -> list[tuple[str, str, int, list[str], list[str], np.ndarray, Table]]:
    """Per (model, reporter) at the matrix layer: (model, reporter, layer, train tasks, test
    tasks, mean AUROC over seeds (train x test), the table of AUROC [CI])."""
    recs = [r for r in records(results) if r.matrix]
    out = []
    for model, reporter in dict.fromkeys((r.model, r.reporter) for r in recs):
        mine = [r for r in recs if (r.model, r.reporter) == (model, reporter)]
        trains = list(dict.fromkeys(r.train for r in mine))
        tests = list(dict.fromkeys(s.task for r in mine for s in r.scores))
        values = np.full((len(trains), len(tests)), np.nan)
        rows = []
        for i, tr in enumerate(trains):
            row = [tr]
            for j, te in enumerate(tests):
                seeds = [s for r in mine if r.train == tr and (s := r.score(te)) is not None]
                values[i, j] = _mean([s.auroc.value for s in seeds])
                row.append(_ci_text([(s.auroc.value, s.auroc.low, s.auroc.high) for s in seeds]))
            rows.append(tuple(row))
        table = Table(("train \\ test AUROC", *tests), rows)
        out.append((model, reporter, mine[0].layer, trains, tests, values, table))
    return out


def sweep(results: RunResults) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """model -> reporter -> [(depth, in-distribution accuracy: mean over train tasks and seeds)]."""
    acc: dict[tuple[str, str, float], list[float]] = defaultdict(list)
    for r in records(results):
        if (s := r.score(r.train)) is not None:
            acc[(r.model, r.reporter, r.depth)].append(s.accuracy)
    panels: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for (model, reporter, depth), xs in acc.items():
        panels.setdefault(model, {}).setdefault(reporter, []).append((depth, float(np.mean(xs))))
    return panels


def sweep_table(results: RunResults) -> Table:
    """Per model, layer and reporter: in-distribution accuracy and AUROC (the diagonal) and
    the mean AUROC off the diagonal (trained on one task, scored on another)."""
    cells: dict[tuple[str, int, float, str], list[TruthRecord]] = defaultdict(list)
    for r in records(results):
        cells[(r.model, r.layer, r.depth, r.reporter)].append(r)
    rows: list[tuple[str, ...]] = []
    for (model, layer, depth, reporter), rs in cells.items():
        diag = [s for r in rs if (s := r.score(r.train)) is not None]
        off = [s.auroc.value for r in rs for s in r.scores if s.task != r.train]
        rows.append((model, str(layer), f"{depth:.2f}", reporter,
                     num(_mean([s.accuracy for s in diag])),
                     num(_mean([s.auroc.value for s in diag])),
                     num(_mean(off)) if off else "n/a"))  # fmt: skip
    header = ("model", "layer", "depth", "reporter", "ID acc", "ID AUROC", "OOD AUROC")
    return Table(header, rows)


def operating_table(results: RunResults) -> Table:
    """At the matrix layer, in distribution: AUROC, recall at 1% / 5% FPR, ECE, with CIs."""
    rows = []
    for r in records(results):
        if r.matrix and (s := r.score(r.train)) is not None:
            rows.append((r.model, r.reporter, r.train, str(r.seed), num(s.accuracy),
                         *(_ci_text([(m.value, m.low, m.high)]) for m in
                           (s.auroc, s.recall_fpr01, s.recall_fpr05, s.ece))))  # fmt: skip
    header = ("model", "reporter", "task", "seed", "acc", "AUROC", "recall@1%FPR",
              "recall@5%FPR", "ECE")  # fmt: skip
    return Table(header, rows)


def pooled_bins(recs: Sequence[TruthRecord], n_bins: int = 10) -> list[ReliabilityBin]:
    """In-distribution reliability bins of ``recs`` pooled by equal-width bin of confidence."""
    acc: dict[int, list[tuple[float, float, int]]] = defaultdict(list)
    for r in recs:
        if (s := r.score(r.train)) is not None:
            for conf, a, n in s.reliability:
                acc[min(n_bins - 1, int(conf * n_bins))].append((conf, a, n))
    out = []
    for b in sorted(acc):
        n = sum(k for _, _, k in acc[b])
        conf = sum(c * k for c, _, k in acc[b]) / n
        accuracy = sum(a * k for _, a, k in acc[b]) / n
        out.append(ReliabilityBin(b / n_bins, (b + 1) / n_bins, conf, accuracy, n))
    return out


def write_truth_plots(results: RunResults, plots_dir: Path) -> list[Plot]:
    """The heat maps, the layer sweep and the reliability diagrams, as PNGs."""
    plots_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for model, reporter, layer, trains, tests, values, _ in matrices(results):
        title = f"{model} | {reporter} | layer {layer}: AUROC, train x test"
        path = plots_dir / f"truth-matrix-{slug(model)}-{slug(reporter)}.png"
        path.write_bytes(png_bytes(matrix_figure(values, trains, tests, title)))
        out.append(Plot("truth", "matrix", title, path))
    if panels := sweep(results):
        path = plots_dir / "truth-layers.png"
        path.write_bytes(png_bytes(layer_sweep_figure(panels, "in-distribution accuracy")))
        out.append(Plot("truth", "layers", "accuracy per layer (in distribution)", path))
    recs = [r for r in records(results) if r.matrix]
    for reporter in dict.fromkeys(r.reporter for r in recs):
        mine = [r for r in recs if r.reporter == reporter]
        title = f"{reporter}: reliability in distribution, layer of the matrix"
        path = plots_dir / f"truth-reliability-{slug(reporter)}.png"
        path.write_bytes(png_bytes(reliability_figure(pooled_bins(mine), title)))
        out.append(Plot("truth", "reliability", title, path))
    return out


def truth_report(results: RunResults, run_dir: Path) -> KindReport:
    plots = write_truth_plots(results, run_dir / PLOTS_DIR)
    sections = [
        table_section(f"Generalisation: {model}, {reporter}, layer {layer}", table,
                      "AUROC of detecting a false statement; rows: the task whose B split "
                      "trained the reporter, columns: the task whose T split scored it.")
        for model, reporter, layer, _, _, _, table in matrices(results)
    ]  # fmt: skip
    sections.append(table_section("Layer sweep", sweep_table(results)))
    sections.append(table_section("Operating points (matrix layer, in distribution)",
                                  operating_table(results)))  # fmt: skip
    sections.append(Section(
        "Truth plots",
        "\n\n".join(f"![{md_escape(p.title)}]({p.path.relative_to(run_dir).as_posix()})"
                    for p in plots),
        "".join(figure(p) for p in plots),
    ))  # fmt: skip
    return KindReport(sections, [], [p.path for p in plots])


def truth_tables(results: RunResults) -> list[RichTable]:
    out = [rich(_flagless(t), f"{m} | {r} | layer {layer}: AUROC train x test")
           for m, r, layer, _, _, _, t in matrices(results)]  # fmt: skip
    out.append(rich(_flagless(sweep_table(results)), "truth: layer sweep"))
    return out


def _flagless(table: Table) -> Table:
    """``rich`` reads the last column as flags: add an empty one."""
    return Table((*table.header, "flags"), [(*row, "") for row in table.rows])
