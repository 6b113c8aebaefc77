"""dtype auto: the measured choice between float32 and bfloat16, its cache and its keys.

The measurement is injected (``precision.measure`` replaced) so every outcome is
tested on any machine, with or without bf16 units; one integration test runs the
real micro-benchmark.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sandwich.models import FeatureSpec, load_model, machine, precision
from sandwich.models.fake import FakeModel
from sandwich.runs.config import FeatureConfig
from sandwich.runs.features import TaskFeatures, feature_spec
from sandwich.store import ArtifactStore
from sandwich.tasks.item import Item
from sandwich.tasks.task import Task

FAST_CLOSE = {"speedup": 2.3, "max_rel_error": 0.005, "min_cosine": 0.99999}
FAST_FAR = {"speedup": 2.3, "max_rel_error": 0.08, "min_cosine": 0.996}
SLOW = {"speedup": 0.2, "max_rel_error": 0.005, "min_cosine": 0.99999}
TEXTS = ["the city of paris is in france .", "rome is in spain .", "berlin is in germany ."]


@pytest.fixture(autouse=True)
def _unpinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite pins auto to float32 (tests/conftest.py); these tests measure."""
    monkeypatch.delenv(precision.OVERRIDE_ENV, raising=False)
    monkeypatch.delenv(machine.REMEASURE_ENV, raising=False)


class Injected:
    """A stand-in for ``precision.measure``: returns ``result`` and counts calls."""

    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result
        self.calls: list[tuple[str, int]] = []

    def __call__(self, purpose: str, hidden: int, device: str = "cpu") -> dict[str, Any]:
        self.calls.append((purpose, hidden))
        return dict(self.result)


def inject(monkeypatch: pytest.MonkeyPatch, result: dict[str, Any]) -> Injected:
    fake = Injected(result)
    monkeypatch.setattr(precision, "measure", fake)
    return fake


# -- the rule --------------------------------------------------------------------


def test_faster_and_close_chooses_bf16() -> None:
    d = precision.decide(FAST_CLOSE)
    assert d.dtype == "bfloat16" and d.speedup == 2.3 and "faster" in d.reason


def test_faster_but_too_different_keeps_fp32() -> None:
    d = precision.decide(FAST_FAR)
    assert d.dtype == "float32" and "changes the output" in d.reason


def test_slower_keeps_fp32() -> None:
    assert precision.decide(SLOW).dtype == "float32"


def test_within_the_margin_keeps_fp32() -> None:
    """A speed-up under the 1.2x margin is noise, not a reason to switch dtypes."""
    barely = {**FAST_CLOSE, "speedup": precision.MIN_SPEEDUP - 0.05}
    assert precision.decide(barely).dtype == "float32"
    assert precision.decide({**FAST_CLOSE, "speedup": precision.MIN_SPEEDUP}).dtype == "bfloat16"


def test_a_bad_measurement_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="speedup"):
        precision.decide({"max_rel_error": 0.0})


# -- choose: cache, fingerprint, overrides ---------------------------------------


def test_measured_once_then_reused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = inject(monkeypatch, FAST_CLOSE)
    first = precision.choose("features", hidden_size=64, store_root=tmp_path)
    again = precision.choose("features", hidden_size=64, store_root=tmp_path)
    assert first.dtype == again.dtype == "bfloat16"
    assert fake.calls == [("features", 64)]
    assert len(list((tmp_path / "machine").glob("precision-features-*.json"))) == 1


def test_another_machine_measures_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = inject(monkeypatch, FAST_CLOSE)
    precision.choose("features", hidden_size=64, store_root=tmp_path)
    real = machine.fingerprint
    monkeypatch.setattr(machine, "fingerprint", lambda device="cpu": {**real(device), "cpu": "B"})
    fake.result = SLOW  # the other machine has no bf16 units
    assert precision.choose("features", hidden_size=64, store_root=tmp_path).dtype == "float32"
    assert len(fake.calls) == 2


def test_hidden_size_and_purpose_are_measured_separately(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = inject(monkeypatch, FAST_CLOSE)
    precision.choose("features", hidden_size=64, store_root=tmp_path)
    precision.choose("features", hidden_size=128, store_root=tmp_path)
    precision.choose("training", hidden_size=64, store_root=tmp_path)
    assert fake.calls == [("features", 64), ("features", 128), ("training", 64)]


def test_remeasure_on_request(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = inject(monkeypatch, FAST_CLOSE)
    precision.choose("features", hidden_size=64, store_root=tmp_path)
    fake.result = SLOW
    assert precision.choose("features", hidden_size=64, store_root=tmp_path).dtype == "bfloat16"
    monkeypatch.setenv(machine.REMEASURE_ENV, "1")
    assert precision.choose("features", hidden_size=64, store_root=tmp_path).dtype == "float32"
    monkeypatch.delenv(machine.REMEASURE_ENV)
    assert precision.choose("features", hidden_size=64, store_root=tmp_path).dtype == "float32"
    assert len(fake.calls) == 2


def test_env_override_wins_without_measuring(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = inject(monkeypatch, FAST_CLOSE)
    monkeypatch.setenv(precision.OVERRIDE_ENV, "float32")
    assert precision.choose("features", store_root=tmp_path).dtype == "float32"
    monkeypatch.setenv(precision.OVERRIDE_ENV, "bfloat16")
    inject(monkeypatch, SLOW)
    assert precision.choose("training", store_root=tmp_path).dtype == "bfloat16"
    assert fake.calls == [] and not (tmp_path / "machine").exists()
    monkeypatch.setenv(precision.OVERRIDE_ENV, "fp8")
    with pytest.raises(ValueError, match="SANDWICH_PRECISION"):
        precision.choose("features", store_root=tmp_path)


def test_explicit_dtype_wins_over_the_measurement(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = inject(monkeypatch, FAST_CLOSE)
    assert precision.resolve("float32", store_root=tmp_path) == "float32"
    assert precision.resolve("auto", hidden_size=64, store_root=tmp_path) == "bfloat16"
    assert len(fake.calls) == 1
    with pytest.raises(ValueError, match="'half'"):
        precision.resolve("half", store_root=tmp_path)


# -- features: auto resolves per model and keys with the resolved dtype ----------


def test_feature_spec_defaults_to_auto() -> None:
    assert FeatureSpec().dtype == "auto" and FeatureConfig().dtype == "auto"


def test_fake_model_resolves_auto_to_float32(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = inject(monkeypatch, FAST_CLOSE)
    model = FakeModel(name="m", skill=0.9)
    spec = model.resolve_spec(FeatureSpec(layers=(-1,)))
    assert spec.dtype == "float32" and fake.calls == []  # no kernels to speed up
    np.testing.assert_array_equal(model.features(TEXTS, FeatureSpec()), model.features(TEXTS, spec))


def _task() -> Task:
    return Task("t", [Item(f"i{k}", t, k % 2 == 0) for k, t in enumerate(TEXTS)])


def test_hf_auto_uses_the_measured_dtype_in_features_and_keys(
    monkeypatch: pytest.MonkeyPatch, tiny_llama_dir: Path, tmp_path: Path
) -> None:
    store = ArtifactStore(tmp_path / "store")
    fake = inject(monkeypatch, FAST_CLOSE)
    model = load_model(str(tiny_llama_dir), store=store, progress=False)
    assert model.resolve_spec(FeatureSpec()).dtype == "bfloat16"
    auto = model.features(TEXTS, FeatureSpec(layers=(1,)))
    bf16 = model.features(TEXTS, FeatureSpec(layers=(1,), dtype="bfloat16"))
    fp32 = model.features(TEXTS, FeatureSpec(layers=(1,), dtype="float32"))
    np.testing.assert_array_equal(auto, bf16)
    assert auto.dtype == np.float32 and not np.array_equal(auto, fp32)
    assert fake.calls == [("features", 16)]  # the model's shape class, measured once
    assert (tmp_path / "store" / "machine").is_dir()  # cached in the model's store
    assert model.module("auto") is model.module("bfloat16")  # one copy of the weights

    spec = feature_spec(model, FeatureConfig(layer=1))
    assert spec.dtype == "bfloat16" and spec.to_dict()["dtype"] == "bfloat16"


def test_machines_that_choose_differently_do_not_share_feature_entries(
    monkeypatch: pytest.MonkeyPatch, tiny_llama_dir: Path, tmp_path: Path
) -> None:
    store = ArtifactStore(tmp_path / "store")
    task = _task()
    name = str(tiny_llama_dir)

    def key(dtype: str) -> Any:
        return TaskFeatures(store, FeatureConfig(layer=1, dtype=dtype), progress=False).key(
            name, task
        )  # type: ignore[arg-type]

    fake = inject(monkeypatch, FAST_CLOSE)
    on_a = key("auto")
    real = machine.fingerprint
    monkeypatch.setattr(machine, "fingerprint", lambda device="cpu": {**real(device), "cpu": "B"})
    fake.result = SLOW
    on_b = key("auto")
    assert on_a == key("bfloat16") and on_b == key("float32") and on_a != on_b
    assert on_a.inputs["spec"]["dtype"] == "bfloat16"


# -- fine-tuning's mixed_precision: auto on CPU ----------------------------------


def test_training_auto_follows_the_training_measurement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    from sandwich.elicit.finetune.elicitor import FineTuneElicitor, default_mixed_precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    fake = inject(monkeypatch, FAST_CLOSE)
    assert default_mixed_precision() == "bf16"
    assert fake.calls == [("training", precision.DEFAULT_HIDDEN)]
    monkeypatch.setenv(machine.REMEASURE_ENV, "1")
    inject(monkeypatch, SLOW)
    assert default_mixed_precision() == "no"
    assert FineTuneElicitor(mode="top").resolved_params()["mixed_precision"] == "no"
    assert FineTuneElicitor(mode="top", mixed_precision="bf16")._mixed_precision() == "bf16"


# -- the real micro-benchmark ----------------------------------------------------


@pytest.mark.integration
def test_real_micro_benchmark_gives_a_valid_decision_quickly(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    decision = precision.choose("features", hidden_size=256, store_root=tmp_path)
    seconds = time.perf_counter() - t0
    m = decision.measurement
    assert m is not None and decision.dtype in ("float32", "bfloat16")
    assert math.isfinite(m["speedup"]) and m["speedup"] > 0
    assert 0 <= m["max_rel_error"] < 0.05  # bf16 has 8 mantissa bits: ~0.5% per token
    assert m["min_cosine"] > 0.99
    assert decision.dtype == precision.decide(m).dtype
    assert seconds < 15, f"the micro-benchmark took {seconds:.1f} s"
    cached = precision.choose("features", hidden_size=256, store_root=tmp_path)
    assert cached.measurement == m  # read back, not measured again


@pytest.mark.integration
def test_without_bf16_kernels_the_real_measurement_keeps_fp32(tmp_path: Path) -> None:
    """A CPU without bf16 units, emulated: oneDNN capped at AVX2 has no bf16 matmul kernel,
    so bf16 runs several times slower; the real micro-benchmark must keep float32, quickly
    (it stops after one small Linear), under its own fingerprint."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json,sys,time; from sandwich.models import precision, machine; t=time.time(); "
        "d=precision.choose('features', hidden_size=256, store_root=sys.argv[1]); "
        "print(json.dumps({'dtype': d.dtype, 'm': d.measurement, 's': time.time()-t, "
        "'fp': machine.fingerprint()}))"
    )
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "OMP_NUM_THREADS": "1"}
    env.pop(precision.OVERRIDE_ENV, None)
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        env=env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["dtype"] == "float32", got
    assert got["m"]["speedup"] < precision.MIN_SPEEDUP
    assert got["s"] < 15
    assert got["fp"]["onednn_max_isa"] == "AVX2"  # not the entry of the same CPU uncapped


# -- the batch size follows the dtype ---------------------------------------------


def test_batch_size_auto_is_the_dtypes_own_and_explicit_wins() -> None:
    assert FeatureSpec().batch_size == "auto" and FeatureConfig().batch_size == "auto"
    assert precision.batch_size("auto", "float32") == 32  # fp32 machines: as before
    assert precision.batch_size("auto", "bfloat16") == 128
    assert precision.batch_size(7, "bfloat16") == 7 and precision.batch_size(7, "float32") == 7
    with pytest.raises(ValueError, match="resolved dtype"):
        precision.batch_size("auto", "auto")
    with pytest.raises(ValueError, match="positive integer"):
        precision.batch_size(0, "float32")
    with pytest.raises(ValueError):
        FeatureConfig(batch_size=0)
    assert FeatureConfig(batch_size=5).batch_size == 5


@pytest.mark.parametrize(("measured", "per_batch"), [(SLOW, 2), (FAST_CLOSE, 3)])
def test_hf_auto_batch_size_follows_the_resolved_dtype(
    monkeypatch: pytest.MonkeyPatch,
    tiny_llama_dir: Path,
    tmp_path: Path,
    measured: dict[str, Any],
    per_batch: int,
) -> None:
    """Both outcomes of the measurement: float32 runs its batch size, bfloat16 its own; the
    features and their key are those of any other batch size."""
    inject(monkeypatch, measured)
    monkeypatch.setattr(precision, "BATCH_SIZE", {"float32": 2, "bfloat16": 3})
    model = load_model(str(tiny_llama_dir), store=ArtifactStore(tmp_path / "s"), progress=False)
    texts = [f"the city number {i} is in country {i % 3} ." for i in range(6)]
    sizes: list[int] = []
    module = model.module(model.resolve_spec(FeatureSpec()).dtype)  # type: ignore[attr-defined]
    hook = module.layers[0].register_forward_pre_hook(
        lambda _m, args, kwargs: sizes.append(
            int((args or (kwargs["hidden_states"],))[0].shape[0])
        ),
        with_kwargs=True,
    )
    try:
        auto = model.features(texts, FeatureSpec(layers=(1,)))
    finally:
        hook.remove()
    assert sizes == [per_batch] * (len(texts) // per_batch)
    one = model.features(texts, FeatureSpec(layers=(1,), batch_size=1))
    np.testing.assert_allclose(auto, one, atol=1e-2 if per_batch == 3 else 1e-5)
    resolved = model.resolve_spec(FeatureSpec(layers=(1,)))
    assert (
        resolved.to_dict() == model.resolve_spec(FeatureSpec(layers=(1,), batch_size=1)).to_dict()
    )


def test_planner_memory_reads_batch_size_auto_as_the_dtypes_batch() -> None:
    from sandwich.runs.cost import _batch

    assert _batch("auto", "float32") == 32 and _batch("auto", "bfloat16") == 128
    assert _batch("auto", "auto") == 128  # dtype not resolved yet: the upper bound
    assert _batch(7, "bfloat16") == 7
