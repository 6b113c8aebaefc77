"""What every elicitor declares for a run: inputs, ceiling, chain, gold, links, fit on a cell."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np
import pytest

from sandwich.config import Strict
from sandwich.elicit import ELICITORS, FineTuneElicitor, LogisticProbe, TextElicitor
from sandwich.elicit.base import Split
from sandwich.errors import ConfigError
from sandwich.models import Model, load_model
from sandwich.registry import spec_of

from .conftest import Clustered


@dataclass
class Inputs:
    """A cell's data, as arrays: the elicitors' view of ``runs.w2s.data.CellData``."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    strong: str = "fake-strong"
    seed: int = 3
    progress: bool = False
    loaded: list[str] = field(default_factory=list)

    def features(self, split: Split) -> np.ndarray:
        return self.x[split]

    def texts(self, split: Split) -> list[str]:
        return [f"item {i}" for i in range(len(self.y[split]))]

    def gold(self, split: Split) -> np.ndarray:
        return self.y[split]

    def model(self, name: str) -> Model:
        self.loaded.append(name)
        return load_model(name)


def test_a_feature_elicitor_fits_on_the_strong_features_and_its_ceiling_is_the_probe(
    make_clustered: Clustered,
) -> None:
    x_b, y_b, x_t, y_t = make_clustered(0, n=200, d=10, n_test=100)
    data = Inputs({"train_strong": x_b, "test": x_t}, {"train_strong": y_b, "test": y_t})
    logconf = ELICITORS.build("probe-logconf")
    p = logconf.fit_cell(data, y_b).predict_cell(data)
    direct = ELICITORS.build("probe-logconf").fit(x_b, y_b, random_state=3).predict_proba(x_t)
    np.testing.assert_array_equal(p, direct)  # the cell's strong features and seed
    ceiling = logconf.ceiling()
    assert (
        isinstance(ceiling, LogisticProbe) and ceiling.get_params() == LogisticProbe().get_params()
    )
    assert spec_of(ceiling) is not None and ceiling.describe() == "probe"
    assert logconf.chain_models() == [] and not logconf.needs_gold
    assert list(logconf.link_predictions_) == []
    assert logconf.inputs == "features" == type(logconf).inputs


def test_the_finetune_ceiling_is_the_same_training_with_xent_on_gold() -> None:
    student = ELICITORS.build(
        "finetune", loss="logconf", chain=["fake-mid"], select="oracle", num_threads=1, epochs=3
    )
    ceiling = student.ceiling()
    assert isinstance(ceiling, FineTuneElicitor)
    spec = spec_of(ceiling)
    assert spec is not None and spec.name == "finetune"
    hp = ceiling.hparams
    assert (hp.loss, hp.chain, hp.num_threads) == ("xent", [], None)
    assert (hp.select, hp.epochs, ceiling.needs_gold) == ("oracle", 3, True)
    assert ceiling.describe() == "finetune (lora, xent, select=oracle, val_fraction=0.2)"
    assert student.chain_models() == ["fake-mid"] and student.inputs == "text"
    last = ELICITORS.build("finetune", select="last").ceiling()
    assert last.describe() == "finetune (lora, xent, select=last)"


class Recording(TextElicitor):
    """A text elicitor that records what a cell hands it."""

    class Params(Strict):
        chain: tuple[str, ...] = ()
        oracle: bool = False

    hparams: Params

    def chain_models(self) -> list[str]:
        return list(self.hparams.chain)

    @property
    def needs_gold(self) -> bool:
        return self.hparams.oracle

    def ceiling_params(self) -> dict[str, Any]:
        return {"oracle": self.hparams.oracle}

    def fit_text(
        self, models: Sequence[Model], texts: Sequence[str], y: np.ndarray, **kw: Any
    ) -> Self:
        self.seen_ = {"models": [m.name for m in models], "n": len(texts), **kw}
        return self

    def predict_proba_text(self, texts: Sequence[str]) -> np.ndarray:
        return np.full(len(texts), 0.5)


@pytest.mark.parametrize("oracle", [False, True])
def test_a_text_elicitor_gets_its_chain_then_the_strong_model_and_gold_only_if_it_asks(
    oracle: bool, tmp_path: Path
) -> None:
    y = {"train_strong": np.array([1.0, 0.0, 1.0]), "test": np.array([0.0, 1.0])}
    data = Inputs({}, y)
    el = Recording(chain=["fake-weak", "fake-mid"], oracle=oracle)
    assert el.fit_cell(data, np.full(3, 0.7), workdir=tmp_path).predict_cell(data).shape == (2,)
    seen = el.seen_
    assert seen["models"] == ["fake-weak", "fake-mid", "fake-strong"] and seen["n"] == 3
    assert seen["random_state"] == 3 and seen["workdir"] == tmp_path
    assert seen["report_texts"] == data.texts("test")  # every link is scored on T
    if oracle:
        np.testing.assert_array_equal(seen["gold"], y["train_strong"])
    else:
        assert seen["gold"] is None  # no gold label of B reaches the student
    alone = Recording().fit_cell(data, np.full(3, 0.7))
    assert alone.seen_["report_texts"] is None and alone.seen_["models"] == ["fake-strong"]
    # not built by the registry: its ceiling is its own class with the ceiling params
    assert isinstance(el.ceiling(), Recording) and el.ceiling().get_params()["oracle"] is oracle


def test_a_model_without_weights_says_so_when_asked_for_a_trainable_copy() -> None:
    with pytest.raises(ConfigError, match="'fake-strong' has none"):
        load_model("fake-strong").training_backbone()
