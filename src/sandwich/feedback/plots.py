"""The dashboard's plot: accuracy and time per item, per condition (matplotlib PNG)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from sandwich.feedback.status import StudyStatus


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
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _plot(st: StudyStatus) -> bytes:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.2))
    frame = st.labels
    main = frame[~frame["is_gold"].astype(bool)] if len(frame) else frame
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
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()
