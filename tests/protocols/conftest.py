"""Fixtures: dossier items and scripted generators (the fake generation backend)."""

from __future__ import annotations

import pytest

from sandwich.tasks import Item, load_task


@pytest.fixture(scope="session")
def dossier_items() -> list[Item]:
    return load_task(name="dossier", n_items=24, seed=0).items
