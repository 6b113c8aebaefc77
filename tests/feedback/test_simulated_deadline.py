"""A simulated rater still reading an item when a timed run ends leaves without answering,
so a load run stops at its deadline instead of draining for the longest pause left."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import numpy as np
import pytest

from sandwich.feedback.simulated_raters import SimulationReport, _Crowd, _Rater, _Stop


def _rater(deadline: float | None) -> _Rater:
    crowd = _Crowd("s", {}, 0.7, 0.8, 1.5, {}, {}, 0.0, 1.0)
    return _Rater(None, replace(crowd, deadline=deadline), "p", np.random.default_rng(0),
                  SimulationReport())  # type: ignore[arg-type]  # fmt: skip


def test_a_pause_past_the_deadline_ends_at_the_deadline_without_answering() -> None:
    t0 = time.monotonic()
    with pytest.raises(_Stop):
        asyncio.run(_rater(t0 + 0.2).pause(30.0))
    assert 0.15 < time.monotonic() - t0 < 1.0


def test_a_pause_that_ends_before_the_deadline_or_without_one_is_served_whole() -> None:
    for deadline in (time.monotonic() + 30.0, None):
        t0 = time.monotonic()
        asyncio.run(_rater(deadline).pause(0.2))
        assert 0.15 < time.monotonic() - t0 < 1.0
