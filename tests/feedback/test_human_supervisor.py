"""The ``human`` Supervisor: aggregated human labels, from an export or the study DB,
inside a real run on the fake backend."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sandwich.errors import ConfigError
from sandwich.feedback.analysis.export import export_labels
from sandwich.feedback.analysis.label_aggregation import aggregate
from sandwich.feedback.store.db import session_factory
from sandwich.feedback.store.studies import get_study
from sandwich.feedback.supervisor import HumanSupervisor
from sandwich.runs import parse_config, run
from sandwich.store import ArtifactStore
from sandwich.supervision import SUPERVISORS
from sandwich.tasks import Item, load_task


def no_features(model: str, items: object) -> np.ndarray:
    raise AssertionError("the human supervisor reads no features")


def simulated_labels(items: list[Item], skills: dict[str, float], seed: int = 0) -> pd.DataFrame:
    """Three raters per condition label every item; a rater of skill s is right w.p. s."""
    rng = np.random.default_rng(seed)
    rows = []
    for cond, skill in skills.items():
        for r in range(3):
            for it in items:
                right = rng.random() < skill
                rows.append(
                    {
                        "item_id": it.id,
                        "rater_id": f"{cond}-{r}",
                        "condition": cond,
                        "answer": bool(it.label) == right,
                        "confidence": 0.8,
                        "is_gold": False,
                        "is_training": False,
                        "truth": bool(it.label),
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def task():  # type: ignore[no-untyped-def]
    return load_task("arithmetic", n_items=300, seed=0)


@pytest.fixture
def labels_csv(tmp_path: Path, task) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / "labels.csv"
    simulated_labels(task.items, {"assisted": 0.9, "none": 0.6}).to_csv(path, index=False)
    return path


def build(**params: object) -> HumanSupervisor:
    sup = SUPERVISORS.build("human", **params)
    assert isinstance(sup, HumanSupervisor)
    return sup


def test_p_true_is_the_aggregate_of_the_chosen_condition(labels_csv: Path, task) -> None:  # type: ignore[no-untyped-def]
    items = task.items[:50]
    for method in ("majority-vote", "dawid-skene"):
        sup = build(path=str(labels_csv), condition="assisted", method=method)
        p = sup.fit(task.items[:10], no_features, random_state=0).predict_proba(items, no_features)
        expected = aggregate(pd.read_csv(labels_csv), method, condition="assisted").p_true
        assert np.allclose(p, expected.reindex([it.id for it in items]).to_numpy())
    y = np.array([it.label for it in task.items])
    acc = {}
    for cond in ("assisted", "none"):
        sup = build(path=str(labels_csv), condition=cond, method="majority-vote")
        p = sup.fit([], no_features, 0).predict_proba(task.items, no_features)
        acc[cond] = float(np.mean((p > 0.5) == y))
    # majority of 3 at skill s is right w.p. s^3 + 3 s^2 (1 - s): 0.972 and 0.648
    assert acc["assisted"] > 0.93 and 0.55 < acc["none"] < 0.75, acc


def test_fit_aggregates_the_labels_the_fingerprint_hashed(labels_csv: Path, task) -> None:  # type: ignore[no-untyped-def]
    sup = build(path=str(labels_csv), condition="assisted", method="majority-vote")
    before = sup.data_fingerprint()
    flipped = labels_csv.read_text().replace(",True,0.8,", ",False,0.8,")
    labels_csv.write_text(flipped)  # every True answer becomes False
    p = sup.fit([], no_features, 0).predict_proba(task.items, no_features)
    expected = aggregate(
        simulated_labels(task.items, {"assisted": 0.9, "none": 0.6}), "majority-vote", "assisted"
    ).p_true
    assert np.allclose(p, expected.reindex([it.id for it in task.items]).to_numpy())
    assert sup.data_fingerprint() != before  # the next fingerprint reads the file again
    p_new = sup.fit([], no_features, 0).predict_proba(task.items, no_features)
    assert not np.allclose(p_new, p)


def test_unlabelled_items_fail_naming_them(tmp_path: Path, task) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "few.jsonl"
    frame = simulated_labels(task.items[:20], {"assisted": 0.9})
    path.write_text("".join(json.dumps(r) + "\n" for r in frame.to_dict("records")))
    sup = build(path=str(path), condition="assisted").fit([], no_features, 0)
    assert sup.predict_proba(task.items[:20], no_features).shape == (20,)
    with pytest.raises(ConfigError, match=r"human: 5 of 25 items have no label in condition") as e:
        sup.predict_proba(task.items[:25], no_features)
    assert task.items[20].id in str(e.value)


def test_several_conditions_need_a_choice_and_bad_params_fail(labels_csv: Path) -> None:
    with pytest.raises(ConfigError, match=r"several conditions \(assisted, none\)"):
        build(path=str(labels_csv)).fit([], no_features, 0)
    with pytest.raises(ConfigError, match="no labels in condition 'debate'"):
        build(path=str(labels_csv), condition="debate").fit([], no_features, 0)
    with pytest.raises(ConfigError, match="exactly one of path"):
        build()
    with pytest.raises(ConfigError, match="db needs study"):
        build(db="sqlite:///x.db")
    with pytest.raises(ConfigError, match="Did you mean 'glad'"):
        build(path=str(labels_csv), method="gald")


def test_run_config_checks_the_labels_file_at_load_time(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"weak\.0\.params: path: labels file .* does not exist"):
        parse_config(
            {
                "tasks": [{"name": "arithmetic", "n_items": 300}],
                "weak": [{"name": "human", "params": {"path": str(tmp_path / "no.csv")}}],
                "strong": ["fake-strong"],
            }
        )


def test_a_run_with_human_supervisors_and_its_cache_follows_the_labels(
    tmp_path: Path,
    labels_csv: Path,
    task,  # type: ignore[no-untyped-def]
) -> None:
    def cfg() -> object:
        return parse_config(
            {
                "name": "humans",
                "tasks": [{"name": "arithmetic", "n_items": 300}],
                "weak": [
                    {
                        "name": "human",
                        "label": "assisted",
                        "params": {"path": str(labels_csv), "condition": "assisted"},
                    },
                    {
                        "name": "human",
                        "label": "unassisted",
                        "params": {
                            "path": str(labels_csv),
                            "condition": "none",
                            # Dawid-Skene on raters right 60% of the time runs all its EM
                            # iterations in crowd-kit (seconds); majority vote keeps this fast
                            "method": "majority-vote",
                        },
                    },
                ],
                "strong": ["fake-strong"],
                "elicitors": ["probe"],
                "seeds": [0],
                "bootstrap": {"n_boot": 200, "min_test": 10},
            }
        )

    store = ArtifactStore(tmp_path / "store")
    out = run(cfg(), runs_root=tmp_path / "runs1", store=store, progress=False)  # type: ignore[arg-type]
    cells = {c.weak: c for c in out.results.cells}
    test_items = task.split(0).test
    y = np.array([it.label for it in test_items])
    for cond, name in (("assisted", "assisted"), ("none", "unassisted")):
        method = "dawid-skene" if cond == "assisted" else "majority-vote"
        sup = build(path=str(labels_csv), condition=cond, method=method).fit([], no_features, 0)
        acc = float(np.mean((sup.predict_proba(test_items, no_features) > 0.5) == y))
        assert cells[name].weak_acc == pytest.approx(acc)
    assert cells["assisted"].weak_acc > cells["unassisted"].weak_acc

    # new labels (every assisted rater now wrong on every item): the cached labels are not reused
    frame = pd.read_csv(labels_csv)
    assisted = frame["condition"] == "assisted"
    frame.loc[assisted, "answer"] = ~frame.loc[assisted, "answer"].astype(bool)
    frame.to_csv(labels_csv, index=False)
    again = run(cfg(), runs_root=tmp_path / "runs2", store=store, progress=False)  # type: ignore[arg-type]
    cells2 = {c.weak: c for c in again.results.cells}
    assert cells2["assisted"].weak_acc == pytest.approx(1 - cells["assisted"].weak_acc)
    assert cells2["unassisted"].weak_acc == cells["unassisted"].weak_acc


def test_reads_the_study_database_like_its_export(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    study = lab.study(n_items=12, overlap=2, items_per_rater=4, design="between")
    for token in lab.invite(study, 12):
        lab.finish(token)
    with session_factory(lab.engine)() as s:
        n = export_labels(s, get_study(s, study), tmp_path / "export.csv")
    assert n > 0
    from_db = build(db=lab.url, study=study, condition="assisted", method="majority-vote")
    from_file = build(
        path=str(tmp_path / "export.csv"), condition="assisted", method="majority-vote"
    )
    a = from_db.fit([], no_features, 0).p_true_
    b = from_file.fit([], no_features, 0).p_true_
    assert len(a) >= 12 and a.equals(b)
    assert from_db.data_fingerprint() == from_file.data_fingerprint()
    with pytest.raises(ConfigError, match="no study named 'nope'"):
        build(db=lab.url, study="nope", condition="assisted").fit([], no_features, 0)
