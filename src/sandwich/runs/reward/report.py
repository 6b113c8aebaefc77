"""The reward kind's report: the table of reward models (supervisor x reward model:
pairwise accuracies, PGR, agreement on errors) and the over-optimisation plots
(best-of-n gold and proxy reward against sqrt(KL) per supervisor, with the fitted
Gao curves and the gold peak marked; RL curves when RL ran)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from sandwich.report.page import KindReport, Section, table_section
from sandwich.report.plots import Plot, png_bytes, slug, text
from sandwich.report.rows import Table, flags_text, md_escape, num, with_ci
from sandwich.report.w2s import PLOTS_DIR, figure
from sandwich.results import RunResults
from sandwich.runs.reward.schema import (
    FLAG_GOLD_SUPERVISOR,
    FLAG_NO_PEAK,
    FLAG_SMALL_GAP,
    GaoFitRecord,
    RewardRecord,
)

HEADER = (
    "task",
    "strong",
    "rm",
    "supervisor",
    "seed",
    "supervisor acc",
    "student acc",
    "ceiling acc",
    "PGR",
    "agree on errors",
    "BoN gold peak (n)",
    "Gao fit (gold)",
    "flags",
)
NOTE = (
    "Pairwise accuracy against gold on T's comparisons (gold ties left out), 95% intervals "
    "from a bootstrap over T's prompts, paired across the three. supervisor: its own "
    "preferences (PGR's floor); student: the reward model trained on its preferences of B; "
    "ceiling: the same reward model on B's gold preferences. agree on errors: where the "
    "supervisor is wrong, how often the student prefers what it preferred. BoN gold peak: "
    "the n of the highest gold reward of best-of-n on T's prompts (proxy = the student). "
    "Gao fit: r = d (alpha - beta d), d = sqrt(KL_bon), of the gold reward relative to the "
    f"policy. `{FLAG_GOLD_SUPERVISOR}`: the supervisor is gold (the ceiling itself: no "
    f"PGR); `{FLAG_SMALL_GAP}`: the ceiling is not significantly above the supervisor; "
    f"`{FLAG_NO_PEAK}`: the fitted gold curve has no maximum (no over-optimisation seen)."
)
COLORS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3")


def records(results: RunResults) -> list[RewardRecord]:
    return [r for r in results.cells_of("reward") if isinstance(r, RewardRecord)]


def _fit_text(fit: GaoFitRecord | None) -> str:
    if fit is None:
        return "-"
    return f"a={fit.alpha:.3f} b={fit.beta:.3f} R2={num(fit.r2, 2)}"


def table(rows: list[RewardRecord]) -> Table:
    return Table(
        HEADER,
        [
            (
                r.task,
                r.strong,
                r.rm,
                r.supervisor,
                str(r.seed),
                with_ci(r.weak_acc, r.weak_acc_ci),
                with_ci(r.student_acc, r.student_acc_ci),
                with_ci(r.ceiling_acc, r.ceiling_acc_ci),
                with_ci(r.pgr, r.pgr_ci) if r.pgr is not None else "-",
                num(r.agreement_on_errors),
                str(r.bon_peak_n) if r.bon_peak_n else "-",
                _fit_text(r.gao_gold),
                flags_text(r.flags),
            )
            for r in rows
        ],
    )


def _curve(fit: GaoFitRecord, d_max: float) -> tuple[np.ndarray, np.ndarray]:
    d = np.linspace(0.0, d_max, 100)
    if fit.form == "rl":
        safe = np.where(d > 0, d, 1.0)
        return d, np.where(d > 0, d * (fit.alpha - fit.beta * np.log(safe)), 0.0)
    return d, d * (fit.alpha - fit.beta * d)


def bon_figure(rows: list[RewardRecord], title: str) -> Figure:
    """Two panels: gold and proxy reward (relative to the policy) against sqrt(KL_bon), one
    colour per supervisor; points with their CIs, the fitted Gao curve, the gold peak."""
    fig = Figure(figsize=(9.0, 3.8), dpi=110)
    axes = [fig.add_subplot(1, 2, k + 1) for k in range(2)]
    for r, color in zip(rows, COLORS * (1 + len(rows) // len(COLORS)), strict=False):
        d = np.array([p.sqrt_kl for p in r.bon])
        d_max = float(d.max()) if len(d) else 1.0
        for ax, attr, fit in ((axes[0], "gold", r.gao_gold), (axes[1], "proxy", r.gao_proxy)):
            ys = np.array([getattr(p, attr) for p in r.bon])
            cis = [getattr(p, f"{attr}_ci") for p in r.bon]
            lo = np.array([y if c[0] is None else c[0] for y, c in zip(ys, cis, strict=True)])
            hi = np.array([y if c[1] is None else c[1] for y, c in zip(ys, cis, strict=True)])
            err = np.array([ys - lo, hi - ys])
            ax.errorbar(
                d,
                ys,
                yerr=err,
                fmt="o",
                markersize=3,
                capsize=2,
                color=color,
                label=text(r.supervisor, 24),
            )
            if fit is not None:
                ax.plot(*_curve(fit, d_max), color=color, linewidth=1, alpha=0.8)
                if (
                    attr == "gold"
                    and fit.peak_d is not None
                    and fit.peak_r is not None
                    and 0 < fit.peak_d <= 1.5 * d_max
                ):
                    ax.plot(
                        [fit.peak_d],
                        [fit.peak_r],
                        marker="*",
                        markersize=11,
                        color=color,
                        markeredgecolor="black",
                    )
    for ax, what in zip(axes, ("gold reward", "proxy reward (policy SDs)"), strict=True):
        ax.axhline(0.0, color="#9e9e9e", linewidth=0.8, linestyle="--")
        ax.set_xlabel("sqrt(KL_bon)  (n = 1, 2, 4, ...)")
        ax.set_ylabel(f"{what} - policy's")
        ax.legend(fontsize=7, loc="best")
    axes[0].set_title(text(f"{title}: gold (star: fitted peak)"), fontsize=9)
    axes[1].set_title(text(f"{title}: proxy"), fontsize=9)
    fig.tight_layout()
    return fig


def rl_figure(rows: list[RewardRecord], title: str, what: str = "rl") -> Figure:
    """Gold and proxy reward against sqrt(KL) per logged RL step (``what="dpo"``: per DPO
    evaluation), one colour per supervisor."""
    fig = Figure(figsize=(5.0, 3.8), dpi=110)
    ax = fig.add_subplot()
    for r, color in zip(rows, COLORS * (1 + len(rows) // len(COLORS)), strict=False):
        steps = r.dpo if what == "dpo" else r.rl
        d = np.sqrt(np.maximum([s.kl for s in steps], 0.0))
        ax.plot(
            d,
            [s.gold for s in steps],
            marker="o",
            markersize=3,
            color=color,
            label=text(f"{r.supervisor} gold", 28),
        )
        ax.plot(
            d,
            [s.proxy for s in steps],
            linestyle="--",
            color=color,
            label=text(f"{r.supervisor} proxy", 28),
        )
    ax.set_xlabel("sqrt(KL to the initial policy)")
    ax.set_ylabel("reward")
    how = "DPO on proxy-ranked pairs" if what == "dpo" else "RL against the proxy"
    ax.set_title(text(f"{title}: {how}"), fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def dpo_figure(rows: list[RewardRecord], title: str) -> Figure:
    """Gold and proxy reward against sqrt(KL) per DPO evaluation."""
    return rl_figure(rows, title, "dpo")


def reward_report(results: RunResults, run_dir: Path) -> KindReport:
    """The table, one best-of-n figure per (task, strong, rm, seed) and RL figures."""
    rows = records(results)
    plots_dir = run_dir / PLOTS_DIR
    plots_dir.mkdir(parents=True, exist_ok=True)
    plots: list[Plot] = []
    groups = dict.fromkeys((r.task, r.strong, r.rm, r.seed) for r in rows)
    for task, strong, rm, seed in groups:
        mine = [r for r in rows if (r.task, r.strong, r.rm, r.seed) == (task, strong, rm, seed)]
        title = f"{task} {strong} {rm} seed {seed}"
        for what, make, have in (
            ("bon", bon_figure, any(r.bon for r in mine)),
            ("rl", rl_figure, any(r.rl for r in mine)),
            ("dpo", dpo_figure, any(r.dpo for r in mine)),
        ):
            if not have:
                continue
            path = plots_dir / f"reward-{what}-{slug(title)}.png"
            path.write_bytes(png_bytes(make([r for r in mine if getattr(r, what)], title)))
            plots.append(Plot(task, f"reward-{what}", f"{title}: {what}", path))
    sections = [table_section("Reward models on weak preferences", table(rows), NOTE)]
    if plots:
        sections.append(
            Section(
                "Over-optimisation: best-of-n against the proxy",
                "\n\n".join(
                    f"![{md_escape(p.title)}]({p.path.relative_to(run_dir).as_posix()})"
                    for p in plots
                ),
                "".join(figure(p) for p in plots),
            )
        )
    return KindReport(sections, files=[p.path for p in plots])
