"""The dashboard's plot: accuracy and time per item, per condition (matplotlib PNG)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from sandwich.feedback.analysis.study_status import StudyStatus


def study_plot(st: StudyStatus) -> bytes:
    """The plot, or (when the labels cannot be plotted) an image saying why."""
    try:
        return _plot(st)
    except Exception as exc:
        plt.close("all")
        return _note(f"plot not available: {exc}")


def _note(text: str) -> bytes:
    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.axis("off")
    ax.text(0.5, 0.5, text[:200], ha="center", va="center", wrap=True, transform=ax.transAxes)
    return _png(fig)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def plotted_labels(st: StudyStatus) -> pd.DataFrame:
    """The labels the plot shows: main items only (no gold, training or attention
    check), and only labels that count (``st.labels`` is the raw frame, with the
    excluded and timed-out labels marked ``excluded``), like every other number
    on the dashboard."""
    frame = st.labels
    if not len(frame):
        return frame
    drop = frame["is_gold"].astype(bool) | frame["is_training"].astype(bool)
    for col in ("is_attention", "excluded"):  # absent in a frame without the checks
        if col in frame:
            drop |= frame[col].astype(bool)
    return frame[~drop]


def _plot(st: StudyStatus) -> bytes:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    main = plotted_labels(st)
    conds = sorted(main["condition"].unique()) if len(main) else []
    acc = [float((g["answer"] == g["truth"]).mean()) for _, g in main.groupby("condition")]
    ax1.bar(conds, acc, color="#36c")
    ax1.set_ylim(0, 1)
    ax1.set_ylabel("accuracy vs expert")
    ax1.set_title("labels on main items")
    if conds:
        ax2.boxplot([main[main["condition"] == c]["seconds"] for c in conds], tick_labels=conds)
    else:
        for ax in (ax1, ax2):
            ax.text(0.5, 0.5, "no labels yet", ha="center", va="center", transform=ax.transAxes)
    ax2.set_ylabel("seconds per item")
    ax2.set_title("time per item")
    fig.tight_layout()
    return _png(fig)
