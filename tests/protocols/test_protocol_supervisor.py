"""The ``protocol`` supervisor: judge verdicts on B become the student's labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sandwich.errors import ConfigError, SandwichError
from sandwich.models.generation import FakeGenerator
from sandwich.protocols import generators as gens
from sandwich.protocols.supervisor import ProtocolSupervisor
from sandwich.runs import parse_config, run
from sandwich.store import ArtifactStore
from sandwich.supervision import SUPERVISORS
from sandwich.tasks import load_task

FAKE_J = {"backend": "fake", "model": "judge"}
FAKE_A = {"backend": "fake", "model": "assistant"}


def _weak(**params: Any) -> dict[str, Any]:
    return {
        "name": "protocol",
        "params": {"protocol": "debate", "judge": FAKE_J, "assistant": FAKE_A, **params},
    }


def test_labels_of_b_and_t_are_the_judges_verdicts(tmp_path: Path) -> None:
    cfg = parse_config(
        {
            "name": "psup",
            "tasks": [{"name": "dossier", "n_items": 40}],
            "weak": [_weak(rounds=1)],
            "strong": ["fake-strong"],
            "elicitors": ["probe"],
            "seeds": [0],
            "bootstrap": {"n_boot": 100, "min_test": 1},
        }
    )
    out = run(cfg, runs_root=tmp_path / "runs", store=ArtifactStore(tmp_path / "s"), progress=False)
    (outcome,) = out.outcomes
    splits = load_task(name="dossier", n_items=40).split(0)
    sup = SUPERVISORS.build("protocol", protocol="debate", judge=FAKE_J, assistant=FAKE_A, rounds=1)
    sup.fit(splits.train_weak, lambda m, i: np.zeros((len(i), 1)), random_state=0)
    expected = sup.predict_proba(splits.test, lambda m, i: np.zeros((len(i), 1)))
    np.testing.assert_allclose(outcome.p_weak, expected)
    # P(statement true) is the judge's P(choices[0]), read from the transcripts
    assert [r.p_choice0 for r in sup.transcripts_] == expected.tolist()
    assert out.results.cells[0].weak == "protocol"


def test_fit_sees_no_gold_and_records_the_seed() -> None:
    sup = ProtocolSupervisor(protocol="naive", judge=FAKE_J)
    items = load_task(name="dossier", n_items=20).items
    assert sup.fit(items, lambda m, i: np.zeros((0, 1)), random_state=7).random_state_ == 7
    with pytest.raises(RuntimeError, match="before fit"):
        ProtocolSupervisor(protocol="naive", judge=FAKE_J).predict_proba(items, lambda m, i: i)


def test_failed_items_raise_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    items = load_task(name="dossier", n_items=20).items
    bad = items[2].metadata["question"]
    monkeypatch.setattr(gens, "build_generator", lambda spec: FakeGenerator(fail_on=[bad]))
    monkeypatch.setattr("sandwich.protocols.supervisor.build_generator", gens.build_generator)
    sup = ProtocolSupervisor(protocol="debate", judge=FAKE_J, assistant=FAKE_A).fit(items, None, 0)  # type: ignore[arg-type]
    with pytest.raises(SandwichError, match=rf"1 of 20 items failed \({items[2].id}: Debater for"):
        sup.predict_proba(items, None)  # type: ignore[arg-type]


def test_the_old_key_debaters_still_names_the_assistant() -> None:
    old = ProtocolSupervisor(protocol="debate", judge=FAKE_J, debaters=FAKE_A)
    assert (
        old.assistant
        == ProtocolSupervisor(protocol="debate", judge=FAKE_J, assistant=FAKE_A).assistant
    )
    with pytest.raises(ConfigError, match="give assistant or its old name debaters, not both"):
        ProtocolSupervisor(protocol="debate", judge=FAKE_J, assistant=FAKE_A, debaters=FAKE_A)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"protocol": "debat", "judge": "smollm2-135m"}, "Did you mean 'debate'"),
        ({"protocol": "debate", "judge": "smollm2-135m"}, "needs an assistant model"),
        (
            {
                "protocol": "debate",
                "judge": "smollm2-135m",
                "assistant": "gemma3-270m",
                "rounds": 0,
            },
            "rounds: Input should be greater than or equal to 1",
        ),
        ({"protocol": "naive"}, "judge: Field required"),
        ({"protocol": "naive", "judge": "nope-model"}, "judge.model: unknown model"),
        ({"protocol": "naive", "judge": "smollm2-135m", "bogus": 1}, "bogus"),
    ],
)
def test_bad_params_fail_at_config_load(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=rf"weak\.0\.params: .*{message}"):
        parse_config(
            {
                "tasks": ["dossier"],
                "weak": [{"name": "protocol", "params": params}],
                "strong": ["fake-strong"],
            }
        )


def test_build_generator_names_the_bad_field() -> None:
    with pytest.raises(ConfigError, match=r"(?m)^  backend: .*'local', 'openai' or 'fake'"):
        gens.build_generator({"backend": "bogus", "model": "x"})
