"""Packed oneDNN linears for feature extraction: same features, chosen by measuring."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sandwich.errors import ConfigError
from sandwich.models import FeatureSpec, load_model, prepack
from sandwich.store import ArtifactStore

TEXTS = [
    "the city of paris is in france .",
    "rome is in spain .",
    "berlin is in germany .",
    "a very long sentence with many more words to make it longer than others .",
]
FASTER = {"speedup": 1.3, "rel_error": 1e-7}
SLOWER = {"speedup": 0.9, "rel_error": 1e-7}


def _linears(module: Any) -> tuple[int, int]:
    """(plain nn.Linear count, packed count) in ``module``."""
    plain = sum(type(m) is torch.nn.Linear for m in module.modules())
    packed = sum(isinstance(m, prepack.packed_linear_class()) for m in module.modules())
    return plain, packed


def _model(directory: Path, tmp_path: Path, name: str = "s") -> Any:
    return load_model(str(directory), store=ArtifactStore(tmp_path / name), progress=False)


@pytest.mark.parametrize("fixture", ["tiny_llama_dir", "tiny_bert_dir"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_packed_linears_give_the_features_of_plain_ones(
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    fixture: str,
    dtype: str,
) -> None:
    directory = request.getfixturevalue(fixture)
    spec = FeatureSpec(layers=(1,), dtype=dtype)  # type: ignore[arg-type]
    monkeypatch.setenv("SANDWICH_PREPACK", "off")
    plain = _model(directory, tmp_path, "a")
    ref = plain.features(TEXTS, spec)
    assert _linears(plain.module(dtype))[1] == 0 and plain.packed == {}
    monkeypatch.setenv("SANDWICH_PREPACK", "on")
    packed = _model(directory, tmp_path, "b")
    got = packed.features(TEXTS, spec)
    n_plain, n_packed = _linears(packed.module(dtype))
    assert n_plain == 0 and n_packed > 0 and dtype in packed.packed
    tol = 1e-5 if dtype == "float32" else 2e-2
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


def test_packed_pair_features_match_plain_ones(
    monkeypatch: pytest.MonkeyPatch, tiny_llama_dir: Path, tmp_path: Path
) -> None:
    """The shared-prefix path (a key/value cache) runs through the packed linears too."""
    pos = ["the city of paris is in france .", "rome is in italy ."]
    neg = ["the city of paris is in spain .", "rome is in spain ."]
    spec = FeatureSpec(layers=(1,), dtype="float32")
    monkeypatch.setenv("SANDWICH_PREPACK", "off")
    ref = _model(tiny_llama_dir, tmp_path, "a").pair_features(pos, neg, spec)
    monkeypatch.setenv("SANDWICH_PREPACK", "on")
    got = _model(tiny_llama_dir, tmp_path, "b").pair_features(pos, neg, spec)
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("measured", "packs"), [(FASTER, True), (SLOWER, False)])
def test_auto_measures_once_per_dtype_and_width_and_follows_the_measurement(
    monkeypatch: pytest.MonkeyPatch,
    tiny_llama_dir: Path,
    tmp_path: Path,
    measured: dict[str, Any],
    packs: bool,
) -> None:
    monkeypatch.delenv("SANDWICH_PREPACK")
    calls: list[tuple[str, int]] = []

    def fake(dtype: str, hidden: int) -> dict[str, Any]:
        calls.append((dtype, hidden))
        return dict(measured)

    monkeypatch.setattr(prepack, "measure", fake)
    model = _model(tiny_llama_dir, tmp_path)
    model.features(TEXTS, FeatureSpec(layers=(1,), dtype="float32"))
    assert calls == [("float32", model.hidden_size)]
    assert (_linears(model.module("float32"))[1] > 0) is packs
    again = _model(tiny_llama_dir, tmp_path)  # same store: the cached measurement
    again.features(TEXTS, FeatureSpec(layers=(1,), dtype="float32"))
    assert calls == [("float32", model.hidden_size)]
    again.features(TEXTS, FeatureSpec(layers=(1,), dtype="bfloat16"))
    assert calls[-1] == ("bfloat16", model.hidden_size)  # each dtype measured on its own


def test_the_real_measurement_compares_both_kernels_on_this_machine() -> None:
    result = prepack.measure("float32", 32)
    assert set(result["ms"]) == {"default", "packed"}
    assert result["speedup"] > 0 and np.isfinite(result["speedup"])
    assert result["rel_error"] <= prepack.MAX_REL_ERROR  # the same matmul, another kernel
    assert isinstance(prepack.decide(result)[0], bool)


def test_decide_packs_only_when_faster_by_the_margin_and_the_same() -> None:
    assert prepack.decide(FASTER)[0] is True
    assert prepack.decide({"speedup": 1.02, "rel_error": 0.0}) == (
        False,
        "packed linears run at 1.02x here (< 1.05x needed)",
    )
    off, why = prepack.decide({"speedup": 3.0, "rel_error": 0.1})
    assert not off and "0.1" in why
    assert not prepack.decide({"speedup": 3.0, "rel_error": float("nan")})[0]
    off, why = prepack.decide({"error": "RuntimeError: no oneDNN"})
    assert not off and "no oneDNN" in why
    with pytest.raises(ValueError, match="'speedup'"):
        prepack.decide({"speedup": "fast"})


@pytest.mark.parametrize(("value", "pinned"), [("on", True), ("OFF", False), ("auto", None)])
def test_the_override_reads_on_off_and_auto(
    monkeypatch: pytest.MonkeyPatch, value: str, pinned: bool | None
) -> None:
    monkeypatch.setenv("SANDWICH_PREPACK", value)
    assert prepack.override() is pinned


def test_a_bad_override_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDWICH_PREPACK", "sometimes")
    with pytest.raises(ValueError, match="SANDWICH_PREPACK='sometimes'"):
        prepack.override()


def test_packing_refuses_a_module_in_training_mode() -> None:
    with pytest.raises(ValueError, match="training mode"):
        prepack.pack(torch.nn.Sequential(torch.nn.Linear(4, 4)).train())


def test_each_dtype_loads_from_disk_and_training_is_never_packed(
    tiny_llama_dir: Path, tmp_path: Path
) -> None:
    """Packed weights are opaque: the bf16 module is not a copy of float32's, and
    fine-tuning gets a plain, trainable backbone."""
    model = _model(tiny_llama_dir, tmp_path)
    fp32 = model.features(TEXTS, FeatureSpec(layers=(1,), dtype="float32"))
    bf16 = model.features(TEXTS, FeatureSpec(layers=(1,), dtype="bfloat16"))
    assert model.load_count == 2 and set(model.packed) == {"float32", "bfloat16"}
    cos = (fp32 * bf16).sum(1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(bf16, axis=1)
    assert cos.min() > 0.999
    backbone = model.training_backbone()
    plain, packed = _linears(backbone.module)
    assert plain > 0 and packed == 0 and backbone.module.training


@pytest.mark.parametrize("prepack_env", ["on", "off"])
def test_bf16_features_do_not_depend_on_whether_float32_was_loaded_first(
    monkeypatch: pytest.MonkeyPatch, tiny_llama_dir: Path, tmp_path: Path, prepack_env: str
) -> None:
    """Both are keyed ``bfloat16``: a copy of the float32 module cast to bf16 would also
    cast the rotary ``inv_freq`` buffers that transformers keeps in float32."""
    monkeypatch.setenv("SANDWICH_PREPACK", prepack_env)
    spec = FeatureSpec(layers=(1,), dtype="bfloat16")
    first = _model(tiny_llama_dir, tmp_path, "a").features(TEXTS, spec)
    after = _model(tiny_llama_dir, tmp_path, "b")
    after.features(TEXTS, FeatureSpec(layers=(1,), dtype="float32"))
    np.testing.assert_array_equal(after.features(TEXTS, spec), first)
    buffers = dict(after.module("bfloat16").named_buffers())
    assert buffers and all(b.dtype == torch.float32 for n, b in buffers.items() if "inv_freq" in n)


def test_a_forced_pack_that_fails_names_the_setting_and_leaves_no_half_packed_module(
    monkeypatch: pytest.MonkeyPatch, tiny_llama_dir: Path, tmp_path: Path
) -> None:
    def broken(module: Any, rows: int = prepack.ROWS) -> int:
        raise RuntimeError("no oneDNN in this build")

    monkeypatch.setattr(prepack, "pack", broken)
    model = _model(tiny_llama_dir, tmp_path)
    with pytest.raises(ConfigError, match=r"SANDWICH_PREPACK=auto.*or off") as err:
        model.features(TEXTS, FeatureSpec(layers=(1,), dtype="float32"))
    assert "no oneDNN in this build" in str(err.value)
    assert model._modules == {} and model.packed == {}
    monkeypatch.setenv("SANDWICH_PREPACK", "off")  # the way out the message names
    assert model.features(TEXTS, FeatureSpec(layers=(1,), dtype="float32")).shape[0] == 4
