"""Reliability diagrams of the w2s and protocol kinds: per (task, weak, strong, elicitor)
the student, the ceiling and the weak supervisor on T, and per protocol the judge's
P(right answer), each pooled over seeds (bins from
:func:`sandwich.metrics.calibration.reliability_diagram`, pooled by
:func:`~sandwich.metrics.calibration.pool_bins`). Results written before the bins were
stored have none: they get no figure."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sandwich.metrics.calibration import ReliabilityBin, bins_ece, pool_bins
from sandwich.protocols.results import BinRecord, ProtocolRow
from sandwich.report.plots import Plot, png_bytes, reliability_series_figure, slug
from sandwich.results import CellResult, RunResults

W2S_ROLES = ("student", "ceiling", "weak")


def pooled(records: Sequence[Sequence[BinRecord]]) -> list[ReliabilityBin]:
    """One diagram from several seeds' stored bins (counts add, means count-weighted)."""
    return pool_bins([b.bin() for b in bins] for bins in records)


def _caption(
    head: str, series: dict[str, list[ReliabilityBin]], k: int, what: str = "reliability on T"
) -> str:
    n = sum(b.n for b in next(iter(series.values())))
    eces = ", ".join(f"{name} ECE {bins_ece(bins):.3f}" for name, bins in series.items())
    return f"{head}: {what} pooled over {k} seed(s), {n} items; {eces}"


def _with_ece(series: dict[str, list[ReliabilityBin]]) -> dict[str, list[ReliabilityBin]]:
    """The series keyed by their legend labels: name and ECE."""
    return {f"{name} (ECE {bins_ece(bins):.3f})": bins for name, bins in series.items()}


def w2s_reliability(results: RunResults) -> list[tuple[str, dict[str, list[ReliabilityBin]], int]]:
    """Per (task, weak, strong, elicitor) with stored bins: its title, the pooled bins of
    student, ceiling and weak supervisor, and the number of seeds pooled."""
    groups: dict[tuple[str, str, str, str], list[CellResult]] = {}
    for c in results.w2s_cells():
        if all(getattr(c, f"{r}_reliability") is not None for r in W2S_ROLES):
            groups.setdefault((c.task, c.weak, c.strong, c.elicitor), []).append(c)
    out = []
    for (task, weak, strong, elicitor), cells in groups.items():
        series = {r: pooled([getattr(c, f"{r}_reliability") for c in cells]) for r in W2S_ROLES}
        out.append((f"{task} | {weak} → {strong} | {elicitor}", series, len(cells)))
    return out


def write_w2s_reliability(results: RunResults, plots_dir: Path) -> list[Plot]:
    """One PNG per (task, weak, strong, elicitor): student vs ceiling vs weak, ECEs in the
    title the report shows as the caption."""
    out = []
    for head, series, k in w2s_reliability(results):
        plots_dir.mkdir(parents=True, exist_ok=True)
        path = plots_dir / f"reliability-{slug(head)}.png"
        path.write_bytes(png_bytes(reliability_series_figure(_with_ece(series), head)))
        out.append(Plot(head.split(" | ")[0], "reliability", _caption(head, series, k), path))
    return out


def write_protocol_reliability(rows: Sequence[ProtocolRow], plots_dir: Path) -> list[Plot]:
    """One PNG per (task, protocol): the judge's P(right answer) pooled over seeds."""
    keyed: dict[tuple[str, str], list[ProtocolRow]] = {}
    for r in rows:
        if r.reliability:
            keyed.setdefault((r.task, r.protocol), []).append(r)
    out = []
    for (task, protocol), mine in keyed.items():
        series = {"judge": pooled([r.reliability or [] for r in mine])}
        head = f"{task} | {protocol}" if task else protocol
        plots_dir.mkdir(parents=True, exist_ok=True)
        path = plots_dir / f"protocol-reliability-{slug(head)}.png"
        figure = reliability_series_figure(_with_ece(series), f"{head}: judge")
        path.write_bytes(png_bytes(figure))
        out.append(
            Plot(
                task,
                "reliability",
                _caption(head, series, len(mine), "the judge's P(right answer)"),
                path,
            )
        )
    return out
