"""The contract every registered component keeps, checked over every registry.

Each task, model, supervisor, elicitor, loss, protocol and generation
backend: declares a Params model; builds from its defaults (or, where a field
is required, from the first example its Params document); its resolved
params round-trip (resolved -> build -> the same spec); a bad value fails
naming the field; and its documented behaviour holds on small data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel, ValidationError

from sandwich.docs_tables import REGISTRIES, registry
from sandwich.errors import ConfigError
from sandwich.registry import example_params, spec_of

ENTRIES = [(kind, name) for kind in REGISTRIES for name in registry(kind).names()]
IDS = [f"{kind}:{name}" for kind, name in ENTRIES]
# small sizes where a default would make the test slow (a task's n_items)
SMALL: dict[str, dict[str, Any]] = {"task": {"n_items": 20}}


def params_model(kind: str, name: str) -> type[BaseModel]:
    model = registry(kind).entry(name).params_model
    assert model is not None, f"{kind} {name!r} declares no Params"
    return model


def example(kind: str, name: str) -> dict[str, Any]:
    return {**example_params(params_model(kind, name)), **SMALL.get(kind, {})}


@pytest.fixture(autouse=True)
def _labels_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The human supervisor's documented example reads ``labels.csv`` (it must exist)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "labels.csv").write_text("item_id,rater_id,answer\n")


def test_every_registry_is_covered() -> None:
    kinds = {kind for kind, _ in ENTRIES}
    assert kinds == set(REGISTRIES) and len(ENTRIES) >= 30


@pytest.mark.parametrize(("kind", "name"), ENTRIES, ids=IDS)
def test_builds_from_its_defaults_and_round_trips(kind: str, name: str) -> None:
    reg = registry(kind)
    if kind == "loss":  # a loss is a function: "built" means called with its resolved params
        resolved = reg.resolve(name, example(kind, name))
        assert set(params_model(kind, name).model_fields) == set(resolved)
        assert reg.resolve(name, resolved) == resolved
        return
    spec = spec_of(reg.build(name, **example(kind, name)))
    assert spec is not None and spec.kind == reg.kind and spec.name == name
    # every field is resolved, defaults included
    assert set(params_model(kind, name).model_fields) <= set(spec.params)
    again = spec_of(reg.build(name, **spec.params))
    assert again == spec


def _bad_value_field(model: type[BaseModel], base: dict[str, Any]) -> str | None:
    """A field that rejects a list of lists (no field here takes one), if the model has one."""
    for field in model.model_fields:
        try:
            model.model_validate({**base, field: [[]]})
        except ValidationError:
            return field
    return None


@pytest.mark.parametrize(("kind", "name"), ENTRIES, ids=IDS)
def test_a_bad_value_fails_naming_the_field(kind: str, name: str) -> None:
    reg, base = registry(kind), example(kind, name)
    field = _bad_value_field(params_model(kind, name), base)
    if field is None:  # no parameters: an unknown one is named
        with pytest.raises(ConfigError, match=r"bogus: unknown field"):
            reg.validate(name, {**base, "bogus": 1})
        return
    with pytest.raises(ConfigError, match=rf"\n  {field}: "):
        reg.validate(name, {**base, field: [[]]})


def test_changing_a_default_is_visible_in_the_spec() -> None:
    """The spec holds every resolved param: writing a default out changes nothing."""
    elicitors = registry("elicitor")
    assert spec_of(elicitors.build("probe")) == spec_of(elicitors.build("probe", max_iter=500))
    assert spec_of(elicitors.build("probe")) != spec_of(elicitors.build("probe", max_iter=501))


# -- documented behaviour, per kind -------------------------------------------------------


@pytest.mark.parametrize("name", registry("task").names())
def test_a_task_yields_labelled_items(name: str) -> None:
    task = registry("task").build(name, **example("task", name))
    labels = [it.label for it in task.items]
    assert len(task.items) == 20 and all(isinstance(b, bool) for b in labels)
    assert sum(labels) == 10  # half true
    assert all(it.text and 0.0 <= it.difficulty <= 1.0 for it in task.items)


@pytest.mark.parametrize("name", [n for n in registry("model").names() if n.startswith("fake")])
def test_a_fake_model_gives_features_of_its_declared_shape(name: str) -> None:
    from sandwich.models.base import FeatureSpec

    model = registry("model").build(name, dim=8, num_layers=2)
    X = model.features(["a", "b", "c"], FeatureSpec(layers=(0, -1)))
    assert X.shape == (3, 2, 8) and np.isfinite(X).all()


def _items() -> list[Any]:
    return list(registry("task").build("arithmetic", n_items=200).items)


def _fake_features(model: str, items: Any) -> np.ndarray:
    from sandwich.models import load_model
    from sandwich.models.base import FeatureSpec

    X: np.ndarray = load_model(model).features([it.text for it in items], FeatureSpec())[:, -1]
    return X


@pytest.mark.parametrize("name", ["gold", "nonexpert", "weak-model"])
def test_a_supervisor_gives_probabilities(name: str) -> None:
    """human and protocol read a study / run a judge: tests/feedback, tests/protocols."""
    items = _items()
    sup = registry("supervisor").build(name, **example("supervisor", name))
    p = sup.fit(items[:100], _fake_features, 0).predict_proba(items[100:], _fake_features)
    assert p.shape == (100,) and np.all((p >= 0) & (p <= 1))
    gold = np.array([it.label for it in items[100:]])
    assert np.mean((p > 0.5) == gold) > 0.6  # better than chance


@pytest.mark.parametrize("name", registry("loss").names())
def test_a_loss_returns_a_differentiable_scalar(name: str) -> None:
    import torch

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(8, 2, generator=gen, requires_grad=True)
    labels = torch.rand(8, generator=gen)
    params = registry("loss").resolve(name, {})
    loss = registry("loss").entry(name).factory(logits, labels, 0.5, **params)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("name", registry("protocol").names())
def test_a_protocol_yields_a_verdict_per_item(name: str) -> None:
    from sandwich.models.generation import FakeGenerator
    from sandwich.protocols import GenParams, Judge, run_protocol

    items = registry("task").build("dossier", n_items=4).items
    protocol = registry("protocol").build(name)
    records = run_protocol(protocol, items, Judge(FakeGenerator()), FakeGenerator(), GenParams(), 0)
    assert [r.item_id for r in records] == [it.id for it in items]
    assert all(r.p_choice0 is None or 0.0 <= r.p_choice0 <= 1.0 for r in records)
    assert protocol.params() == spec_of(protocol).params  # type: ignore[union-attr]


def test_the_fake_backend_follows_its_script() -> None:
    """local and openai need a model / a server: tests/models/generation."""
    from sandwich.models.generation import GenRequest, Message

    fake = registry("backend").build("fake", rules={"hello": "hi"}, default="no")
    out = fake.generate(
        [GenRequest((Message("user", "hello there"),)), GenRequest((Message("user", "x"),))]
    )
    assert [r.text for r in out] == ["hi", "no"]


# -- the example of docs/architecture.md: a new elicitor with its Params ---------------


def test_adding_an_elicitor_is_one_class_with_params() -> None:
    from pydantic import Field

    from sandwich.config import Strict
    from sandwich.elicit import Elicitor
    from sandwich.registry import Registry

    class MeanDiff(Elicitor):
        """Projects features on the difference of the class means (Marks & Tegmark 2023)."""

        class Params(Strict):
            scale: float = Field(1.0, gt=0, description="logit = scale * projection")

        hparams: Params

        def fit(self, X: np.ndarray, y: np.ndarray, random_state: int = 0) -> MeanDiff:
            w = np.clip(y, 0, 1)[:, None]
            self.direction_ = (w * X).sum(0) / w.sum() - ((1 - w) * X).sum(0) / (1 - w).sum()
            self.center_ = X.mean(0)
            return self

        def predict_proba(self, X: np.ndarray) -> np.ndarray:
            z = self.hparams.scale * (X - self.center_) @ self.direction_
            return np.asarray(1 / (1 + np.exp(-z)))

    reg: Registry[Elicitor] = Registry("elicitor")  # in the project: sandwich.elicit.registry
    reg.register("mean-diff")(
        MeanDiff
    )  # there: ELICITORS.lazy("mean-diff", "module:MeanDiff", ...)
    X = np.random.default_rng(0).normal(size=(200, 5)) + np.repeat([[0.0], [2.0]], 100, axis=0)
    y = np.repeat([0.0, 1.0], 100)
    p = reg.build("mean-diff").fit(X, y).predict_proba(X)
    assert np.mean((p > 0.5) == y) > 0.9
    assert spec_of(reg.build("mean-diff")).params == {"scale": 1.0}  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="scale: Input should be greater than 0, got -1"):
        reg.build("mean-diff", scale=-1)


def test_listing_every_registry_imports_no_component() -> None:
    """Registries hold "module:Object" strings: listing names and summaries imports no
    component module (no torch, no feedback/, no protocol adapter)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from sandwich.docs_tables import REGISTRIES, registry\n"
        "for kind in REGISTRIES:\n"
        "    assert all(e.summary for e in registry(kind))\n"
        "heavy = ('torch', 'transformers', 'httpx', 'sklearn', 'sandwich.feedback',\n"
        "         'sandwich.elicit.probe', 'sandwich.elicit.finetune.elicitor',\n"
        "         'sandwich.supervision.protocol', 'sandwich.tasks.builtin')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
