"""Figures per task: accuracies in the style of Burns et al. 2023, and PGR with CIs.

Figures are built with ``matplotlib.figure.Figure`` and the Agg canvas
directly (no pyplot, no global backend switch), so plotting is safe in tests
and worker processes.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sandwich.metrics.calibration import ReliabilityBin
from sandwich.report.rows import defined
from sandwich.results import FLAG_SMALL_GAP, GroupResult, RunResults

WEAK_COLOR = "#9e9e9e"
CEILING_COLOR = "#263238"
FLAGGED_COLOR = "#bdbdbd"
PGR_LIMITS = (-0.5, 1.5)  # default y range of PGR plots; widened to fit unflagged CIs


class Plot(NamedTuple):
    task: str
    kind: str  # "accuracy" or "pgr"
    title: str
    path: Path


def slug(name: str) -> str:
    """A safe file-name fragment for ``name`` (a short hash keeps it unique)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")[:40]
    if safe == name and safe:
        return safe
    return f"{safe or 'task'}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def _pairs(groups: Sequence[GroupResult]) -> list[tuple[str, str]]:
    return list(dict.fromkeys((g.weak, g.strong) for g in groups))


def _elicitors(groups: Sequence[GroupResult]) -> list[str]:
    return list(dict.fromkeys(g.elicitor for g in groups))


def _colors(n: int) -> list[str]:
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
    return [palette[i % len(palette)] for i in range(n)]


def text(name: str, limit: int = 60) -> str:
    """A name as safe plot text: truncated, and ``$`` escaped (no mathtext)."""
    short = name if len(name) <= limit else name[: limit - 1] + "…"
    return short.replace("$", r"\$")


def _finish(fig: Figure, pairs: list[tuple[str, str]], task: str, y: str, what: str) -> Figure:
    """What both figures share: a tick per (weak, strong) pair, axis labels, the title,
    a grid and the legend on the right."""
    ax = fig.axes[0]
    ticks = [f"{text(w, 30)}\n→ {text(s, 30)}" for w, s in pairs]
    ax.set_xticks(range(len(pairs)), ticks, fontsize=8)
    ax.set_xlabel("weak supervisor → strong model")
    ax.set_ylabel(y)
    fig.suptitle(f"{text(task)}\n{what}", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def accuracy_figure(results: RunResults, task: str) -> Figure:
    """Grouped bars per (weak, strong) pair: weak, student per elicitor, ceiling.

    Bars are seed means (from the groups); dots are the individual seeds (cells).
    """
    groups = [g for g in results.w2s_groups() if g.task == task]
    pairs, elicitors = _pairs(groups), _elicitors(groups)
    series = ["weak", *elicitors, "ceiling"]
    colors = [WEAK_COLOR, *_colors(len(elicitors)), CEILING_COLOR]
    fig = Figure(figsize=(max(6.0, 1.6 + 1.1 * len(pairs) * len(series) * 0.45), 4.6), dpi=110)
    ax = fig.add_subplot()
    width = 0.8 / len(series)
    lowest = 1.0
    for j, (name, color) in enumerate(zip(series, colors, strict=True)):
        xs, heights, dots_x, dots_y = [], [], [], []
        for i, (weak, strong) in enumerate(pairs):
            members = [g for g in groups if (g.weak, g.strong) == (weak, strong)]
            if name not in ("weak", "ceiling"):
                members = [g for g in members if g.elicitor == name]
            if not members:
                continue
            attr = {"weak": "weak_acc", "ceiling": "ceiling_acc"}.get(name, "student_acc")
            x = i + (j - (len(series) - 1) / 2) * width
            xs.append(x)
            heights.append(float(np.mean([getattr(g, attr) for g in members])))
            cells = [
                c
                for c in results.w2s_cells()
                if (c.task, c.weak, c.strong) == (task, weak, strong)
                and (name in ("weak", "ceiling") or c.elicitor == name)
            ]
            if name in ("weak", "ceiling"):  # the same for every elicitor: one dot per seed
                cells = list({c.seed: c for c in cells}.values())
            dots_x += [x] * len(cells)
            dots_y += [getattr(c, attr) for c in cells]
        label = f"student ({text(name, 30)})" if name not in ("weak", "ceiling") else name
        bars = ax.bar(xs, heights, width * 0.92, color=color, label=label)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)
        ax.scatter(dots_x, dots_y, s=9, color="black", alpha=0.6, zorder=3, linewidths=0)
        lowest = min([lowest, *heights, *dots_y])
    ax.set_ylim(min(0.5, math.floor(lowest * 20) / 20 - 0.05), 1.04)
    what = "weak, student and ceiling accuracy (bars: mean over seeds; dots: seeds)"
    return _finish(fig, pairs, task, "test accuracy", what)


def _pgr_limits(groups: Sequence[GroupResult]) -> tuple[float, float]:
    lo, hi = PGR_LIMITS
    for g in groups:
        if FLAG_SMALL_GAP in g.flags:
            continue
        vals = [v for v in (g.pgr, *g.pgr_ci) if v is not None and defined(v)]
        lo, hi = min([lo, *vals]), max([hi, *vals])
    return max(lo, -3.0) - 0.1, min(hi, 3.0) + 0.1


def pgr_figure(results: RunResults, task: str) -> Figure:
    """PGR with its 95% CI per elicitor, per (weak, strong) pair, lines at 0 and 1.

    Groups flagged ``small_gap`` are drawn as hollow grey markers and labelled;
    values outside the axis are drawn at its edge with their value written.
    """
    groups = [g for g in results.w2s_groups() if g.task == task]
    pairs, elicitors = _pairs(groups), _elicitors(groups)
    fig = Figure(figsize=(max(6.0, 2.0 + 1.3 * len(pairs)), 4.4), dpi=110)
    ax = fig.add_subplot()
    lo, hi = _pgr_limits(groups)
    ax.axhline(0.0, color=WEAK_COLOR, ls="--", lw=1, label="0 = weak supervisor")
    ax.axhline(1.0, color=CEILING_COLOR, ls="--", lw=1, label="1 = ceiling")
    step = 0.6 / max(1, len(elicitors))
    labelled: set[str] = set()
    for j, (elicitor, color) in enumerate(zip(elicitors, _colors(len(elicitors)), strict=True)):
        for i, pair in enumerate(pairs):
            match = [g for g in groups if (g.weak, g.strong, g.elicitor) == (*pair, elicitor)]
            if not match:
                continue
            g = match[0]
            x = i + (j - (len(elicitors) - 1) / 2) * step
            flagged = FLAG_SMALL_GAP in g.flags
            c = FLAGGED_COLOR if flagged else color
            if g.pgr is None or not defined(g.pgr):
                ax.annotate("PGR n/a\n(no gap)", (x, 0.0), ha="center", fontsize=7, color="grey")
                continue
            y = min(max(g.pgr, lo), hi)
            if all(defined(v) for v in g.pgr_ci):
                low, high = (min(max(v or 0.0, lo), hi) for v in g.pgr_ci)
                ax.errorbar([x], [y], yerr=[[y - low], [high - y]], color=c, capsize=4, lw=1.5)
            label = None if elicitor in labelled else text(elicitor, 30)
            labelled.add(elicitor)
            ax.plot(
                [x], [y], "o", ms=7, color=c, mfc="white" if flagged else c, mew=1.5, label=label
            )
            note = f"{g.pgr:.2f}" if y != g.pgr else ""
            note = "\n".join(n for n in (note, "small gap" if flagged else "") if n)
            if note:
                ax.annotate(note, (x, y), xytext=(6, 0), textcoords="offset points",
                            fontsize=7, color="dimgrey", va="center")  # fmt: skip
    ax.set_xlim(-0.6, len(pairs) - 0.4)
    ax.set_ylim(lo, hi)
    what = "PGR with 95% CI (hollow grey: small gap, PGR not meaningful)"
    return _finish(fig, pairs, task, "PGR (performance gap recovered)", what)


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    return buf.getvalue()


def write_plots(results: RunResults, plots_dir: Path) -> list[Plot]:
    """Write the accuracy and PGR figures of every task as PNGs into ``plots_dir``."""
    plots_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for task in dict.fromkeys(g.task for g in results.w2s_groups()):
        for kind, make, title in (
            ("accuracy", accuracy_figure, "accuracy"),
            ("pgr", pgr_figure, "PGR"),
        ):
            path = plots_dir / f"{kind}-{slug(task)}.png"
            path.write_bytes(png_bytes(make(results, task)))
            out.append(Plot(task, kind, f"{task}: {title}", path))
    return out


def reliability_figure(bins: Sequence[ReliabilityBin], title: str = "reliability") -> Figure:
    """A reliability diagram: accuracy against mean confidence per bin (marker area ~ count).

    ``bins`` from :func:`sandwich.metrics.calibration.reliability_diagram`; the
    diagonal is perfect calibration; top-label confidence starts at 0.5.
    """
    fig = Figure(figsize=(4.2, 4.0))
    ax = fig.add_subplot()
    ax.plot([0.5, 1.0], [0.5, 1.0], color=WEAK_COLOR, linestyle="--", label="calibrated")
    if bins:
        conf = [b.confidence for b in bins]
        acc = [b.accuracy for b in bins]
        sizes = np.asarray([b.n for b in bins], dtype=float)
        ax.plot(conf, acc, color=CEILING_COLOR, linewidth=1)
        ax.scatter(conf, acc, s=20 + 180 * sizes / sizes.max(), color="#1f77b4", zorder=3)
    ax.set_xlim(0.45, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("mean confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(text(title))
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def reliability_series_figure(
    series: Mapping[str, Sequence[ReliabilityBin]], title: str = "reliability"
) -> Figure:
    """Several reliability diagrams on one axis (e.g. student, ceiling, weak), one colour
    and line each, marker area ~ the bin's share of that series' items."""
    fig = Figure(figsize=(4.6, 4.2))
    ax = fig.add_subplot()
    ax.plot([0.5, 1.0], [0.5, 1.0], color=WEAK_COLOR, linestyle="--", label="calibrated")
    for (name, bins), color in zip(series.items(), _colors(len(series)), strict=True):
        if not bins:
            continue
        conf = [b.confidence for b in bins]
        acc = [b.accuracy for b in bins]
        sizes = np.asarray([b.n for b in bins], dtype=float)
        ax.plot(conf, acc, color=color, linewidth=1, label=text(name, 30))
        ax.scatter(conf, acc, s=15 + 120 * sizes / sizes.max(), color=color, zorder=3)
    ax.set_xlim(0.45, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("mean confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(text(title), fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def write_reliability_diagram(
    bins: Sequence[ReliabilityBin], path: Path, title: str = "reliability"
) -> Path:
    """Write :func:`reliability_figure` to ``path`` as PNG or SVG (by its suffix)."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("png", "svg"):
        raise ValueError(f"reliability diagram path must end in .png or .svg, got {path}")
    FigureCanvasAgg(reliability_figure(bins, title)).print_figure(str(path), format=fmt)
    return path


def matrix_figure(
    values: np.ndarray, rows: Sequence[str], cols: Sequence[str], title: str,
    what: str = "AUROC",
) -> Figure:  # fmt: skip
    """A heat map of a train x test matrix (``values``: rows x cols, NaN where undefined), each
    cell annotated with its value; the colour scale is fixed to [0, 1] with 0.5 (chance) white."""
    fig = Figure(figsize=(max(4.8, 1.6 + 1.0 * len(cols)), max(3.2, 1.4 + 0.7 * len(rows))))
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(values), cmap="RdBu", vmin=0.0, vmax=1.0)
    for i in range(len(rows)):
        for j in range(len(cols)):
            v = values[i, j]
            label = "n/a" if not math.isfinite(v) else f"{v:.2f}"
            strong = math.isfinite(v) and abs(v - 0.5) > 0.3
            colour = "white" if strong else "black"
            ax.text(j, i, label, ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(len(cols)), [text(c, 20) for c in cols], rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), [text(r, 20) for r in rows])
    ax.set_xlabel("test task (T split)")
    ax.set_ylabel("train task (B split)")
    ax.set_title(text(title), fontsize=9)
    fig.colorbar(image, ax=ax, label=what, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def layer_sweep_figure(
    panels: dict[str, dict[str, list[tuple[float, float]]]], what: str = "accuracy"
) -> Figure:
    """One panel per model (``panels``: model -> line name -> [(depth fraction, value)]), one
    line per reporter; chance (0.5) dashed."""
    fig = Figure(figsize=(4.2 * max(1, len(panels)), 3.6))
    names = list(dict.fromkeys(n for lines in panels.values() for n in lines))
    colors = dict(zip(names, _colors(len(names)), strict=True))
    for k, (model, lines) in enumerate(panels.items()):
        ax = fig.add_subplot(1, len(panels), k + 1)
        ax.axhline(0.5, color=WEAK_COLOR, linestyle="--", linewidth=1)
        for name, points in lines.items():
            xs, ys = zip(*sorted(points), strict=True)
            ax.plot(xs, ys, marker="o", markersize=3, color=colors[name], label=text(name, 24))
        ax.set_xlim(0.0, 1.02)
        ax.set_xlabel("layer (fraction of depth)")
        ax.set_ylabel(what)
        ax.set_title(text(model))
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
