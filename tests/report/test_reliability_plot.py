"""The reliability diagram is written as a PNG or an SVG from the calibration bins."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sandwich.metrics.calibration import ReliabilityBin, reliability_diagram
from sandwich.report.plots import write_reliability_diagram


def _bins() -> list[ReliabilityBin]:
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 200)
    y = (rng.random(200) < p).astype(float)
    return reliability_diagram(y, p, n_bins=10)


def test_writes_png_and_svg(tmp_path: Path) -> None:
    png = write_reliability_diagram(_bins(), tmp_path / "rel.png", "cities: smollm2")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = write_reliability_diagram(_bins(), tmp_path / "rel.svg")
    assert "<svg" in svg.read_text()[:500]


def test_other_suffix_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        write_reliability_diagram(_bins(), tmp_path / "rel.pdf")
