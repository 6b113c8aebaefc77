"""Shared fixtures: every test gets its own artifact store; nothing touches ~/.cache."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sandwich.store import ArtifactStore

if TYPE_CHECKING:
    from sandwich.testing.pg_server import TempPostgres

# datasets reads its cache location at import: keep it out of ~/.cache in tests
os.environ.setdefault("HF_DATASETS_CACHE", tempfile.mkdtemp(prefix="sandwich-hf-datasets-"))


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDWICH_HOME", str(tmp_path_factory.mktemp("sandwich-home")))
    # dtype auto is measured per machine; tests pin it (tests/models/test_precision.py unpins)
    monkeypatch.setenv("SANDWICH_PRECISION", "float32")
    # packed linears are measured per machine too; tests run the packed path, which is
    # what auto chooses where it is faster (tests/models/test_prepack.py unpins)
    monkeypatch.setenv("SANDWICH_PREPACK", "on")


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store")


@pytest.fixture(scope="session")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> ArtifactStore:
    """One store for the whole session, so real models are converted once per test run."""
    return ArtifactStore(tmp_path_factory.mktemp("shared-store"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[TempPostgres]:
    """A real PostgreSQL server (Debian's package) on 127.0.0.1 for the whole session,
    in a temporary data directory (stopped and deleted at the end)."""
    from sandwich.testing.pg_server import TempPostgres

    with TempPostgres() as pg:
        yield pg


@pytest.fixture
def postgres_url(postgres_server: TempPostgres) -> str:
    """A ``postgresql+psycopg://`` URL to a fresh, empty database on that server."""
    return postgres_server.new_database()
