"""load_hf_task on local files written by the test (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandwich.errors import InputFileError, OfflineError
from sandwich.tasks import load_hf_task, load_task


@pytest.fixture
def data(tmp_path: Path) -> Path:
    p = tmp_path / "claims.jsonl"
    rows = [{"sentence": f"{i} is odd.", "answer": i % 2, "extra": i} for i in range(30)]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


def test_local_json(data: Path) -> None:
    task = load_hf_task(str(data), text_field="sentence", label_field="answer")
    assert len(task.items) == 30
    assert [it.label for it in task.items[:3]] == [False, True, False]
    assert task.items[1].metadata == {"extra": 1}
    assert task.source["kind"] == "hf" and task.source["sha256"]


def test_via_load_task(data: Path) -> None:
    task = load_task(
        hf=str(data), n_items=10, seed=0, params={"text_field": "sentence", "label_field": "answer"}
    )
    assert len(task.items) == 10


def test_missing_column(data: Path) -> None:
    with pytest.raises(InputFileError, match="no column 'text'"):
        load_hf_task(str(data), label_field="answer")


def test_saved_dataset_dir(tmp_path: Path) -> None:
    import datasets

    ds = datasets.Dataset.from_dict({"text": ["a.", "b."], "label": [True, False]})
    ds.save_to_disk(str(tmp_path / "ds"))
    task = load_hf_task(str(tmp_path / "ds"))
    assert [it.label for it in task.items] == [True, False]


def test_hub_name_is_offline_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    with pytest.raises(OfflineError, match="allow_download=True"):
        load_hf_task("sandwich-no-such-org/no-such-dataset")
