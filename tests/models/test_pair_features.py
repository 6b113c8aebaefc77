"""Pair features (contrast pairs): a decoder runs each pair's shared prefix once, from a
key/value cache, and gets the same features as one batched pass over both halves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from sandwich.models import FeatureSpec, load_model
from sandwich.models import extract as extract_mod
from sandwich.models.extract import shared_prefix_length, supports_shared_prefix
from sandwich.models.fake import FakeModel
from sandwich.models.hf import HFModel

# Pairs whose halves share 2..11 tokens (with the BOS), differ by suffixes of 1..4 tokens of
# odd and even lengths, one half a prefix of the other, identical halves, and a pair that
# differs right after the BOS: a batch mixes prefix lengths, so prefixes are padded.
PAIRS = [
    ("the city of paris is in france", "the city of paris is in germany"),
    ("rome is in italy", "rome is in spain and a very long sentence"),
    ("the city of lyon is in france .", "the city of lyon is in france"),
    ("berlin is in germany", "berlin is in germany"),
    ("paris", "madrid"),
    ("a very long sentence with many more words to make it longer than others and the",
     "a very long sentence with many more words to make it longer than others or the"),
    ("the city", "the city of rome is in italy and the city of madrid is in spain"),
]  # fmt: skip
POS = [p for p, _ in PAIRS]
NEG = [n for _, n in PAIRS]


def hf(path: Path, **kwargs: Any) -> HFModel:
    m = load_model(str(path), progress=False, **kwargs)
    assert isinstance(m, HFModel)
    return m


def one_pass(m: Any, spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray]:
    """The old path: both halves in one batched call."""
    x = m.features(POS + NEG, spec)
    return x[: len(POS)], x[len(POS) :]


def padded_tokens(m: HFModel) -> tuple[list[int], Any]:
    """Count the (batch x seq) positions the first block runs on, per call."""
    seen: list[int] = []

    def pre(_mod: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        h = args[0] if args else kwargs["hidden_states"]
        seen.append(int(h.shape[0] * h.shape[1]))

    return seen, m.module().layers[0].register_forward_pre_hook(pre, with_kwargs=True)


@pytest.mark.parametrize("pooling", ["last", "mean"])
@pytest.mark.parametrize("batch_size", [32, 2])
def test_shared_prefix_equals_one_pass(tiny_llama_dir: Path, pooling: str, batch_size: int) -> None:
    m = hf(tiny_llama_dir)
    spec = FeatureSpec(layers=(0, 1, 2), pooling=pooling, batch_size=batch_size)  # type: ignore[arg-type]
    want_pos, want_neg = one_pass(m, spec)
    seen, handle = padded_tokens(m)
    try:
        got_pos, got_neg = m.pair_features(POS, NEG, spec)
    finally:
        handle.remove()
    assert got_pos.shape == want_pos.shape == (len(PAIRS), 3, 16)
    assert got_pos.dtype == np.float32
    np.testing.assert_allclose(got_pos, want_pos, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(got_neg, want_neg, atol=1e-5, rtol=1e-5)
    # the shared path ran: a prefix pass and a suffix pass per batch of pairs
    assert len(seen) == 2 * len(extract_mod.length_batches([1] * len(PAIRS), batch_size))


def test_contrast_like_pairs_run_fewer_tokens(tiny_llama_dir: Path) -> None:
    """Statement + one differing word: the shared path runs fewer (padded) positions than
    the one batched pass over both halves, with the same features."""
    m = hf(tiny_llama_dir)
    statements = [" ".join(["the city of", w, "is in"] + ["a"] * (i % 5)) for i, w in
                  enumerate(["paris", "lyon", "rome", "madrid", "berlin"] * 4)]  # fmt: skip
    pos = [f"{s} france" for s in statements]
    neg = [f"{s} italy" for s in statements]
    spec = FeatureSpec(layers=(1,), pooling="last")
    seen, handle = padded_tokens(m)
    try:
        want = m.features(pos + neg, spec)
        full = sum(seen)
        got_pos, got_neg = m.pair_features(pos, neg, spec)
        shared = sum(seen) - full
    finally:
        handle.remove()
    np.testing.assert_allclose(np.concatenate([got_pos, got_neg]), want, atol=1e-5)
    assert shared < 0.7 * full, (shared, full)


def test_each_pair_alone_matches(tiny_llama_dir: Path) -> None:
    """A pair's features do not depend on the other pairs in its batch (positions and
    masks of padded prefixes are right)."""
    m = hf(tiny_llama_dir)
    spec = FeatureSpec(layers=(1, 2), pooling="last")
    pos, neg = m.pair_features(POS, NEG, spec)
    for i, (p, n) in enumerate(PAIRS):
        a, b = m.pair_features([p], [n], spec)
        np.testing.assert_allclose(a[0], pos[i], atol=1e-5)
        np.testing.assert_allclose(b[0], neg[i], atol=1e-5)


def test_truncated_halves_stay_equal_to_one_pass(tiny_llama_dir: Path) -> None:
    """``max_length`` cuts both halves before the prefix is found (long pairs then share
    every token but the last)."""
    m = hf(tiny_llama_dir)
    for pooling in ("last", "mean"):
        spec = FeatureSpec(layers=(2,), pooling=pooling, max_length=5)  # type: ignore[arg-type]
        want = one_pass(m, spec)
        got = m.pair_features(POS, NEG, spec)
        np.testing.assert_allclose(got[0], want[0], atol=1e-5)
        np.testing.assert_allclose(got[1], want[1], atol=1e-5)


def no_shared_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_a: Any, **_k: Any) -> None:
        raise AssertionError("the shared-prefix path ran")

    monkeypatch.setattr(extract_mod, "_shared_prefix_batch", fail)


def test_encoder_falls_back_to_one_pass(
    tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = hf(tiny_bert_dir)
    spec = FeatureSpec(layers=(1, 2), pooling="mean")
    want = one_pass(m, spec)
    no_shared_batch(monkeypatch)
    got = m.pair_features(POS, NEG, spec)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_switch_off_and_layer_zero_fall_back(
    tiny_llama_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = hf(tiny_llama_dir)
    spec = FeatureSpec(layers=(0,), pooling="mean")
    assert not supports_shared_prefix(m.module(), (0,), 128)  # nothing to share at layer 0
    assert supports_shared_prefix(m.module(), (0, 1), 128)
    want = one_pass(m, spec)
    no_shared_batch(monkeypatch)
    got = m.pair_features(POS, NEG, spec)
    np.testing.assert_allclose(got[0], want[0], atol=1e-6)
    off = hf(tiny_llama_dir, shared_prefix=False)
    spec2 = FeatureSpec(layers=(2,), pooling="last")
    np.testing.assert_array_equal(off.pair_features(POS, NEG, spec2)[1], one_pass(off, spec2)[1])


def test_sliding_window_shorter_than_two_halves_falls_back(tiny_llama_dir: Path) -> None:
    m = hf(tiny_llama_dir)
    module = m.module()
    old = getattr(module.config, "sliding_window", None)
    module.config.sliding_window = 64
    try:
        assert not supports_shared_prefix(module, (1,), 32)
        assert supports_shared_prefix(module, (1,), 31)
    finally:
        module.config.sliding_window = old


def test_shared_prefix_length() -> None:
    assert shared_prefix_length([1, 5, 6, 7], [1, 5, 6, 8, 9]) == 3
    assert shared_prefix_length([1, 5, 6], [1, 5, 6, 7]) == 2  # each half keeps one token
    assert shared_prefix_length([1, 5, 6], [1, 5, 6]) == 2
    assert shared_prefix_length([5], [5]) == 0
    assert shared_prefix_length([5, 6], [7, 6]) == 0
    assert shared_prefix_length([], [1]) == 0


def test_bad_and_empty_input(tiny_llama_dir: Path) -> None:
    m = hf(tiny_llama_dir)
    spec = FeatureSpec(layers=(1,))
    for model in (m, FakeModel("f", 0.9)):
        with pytest.raises(ValueError, match="got 2 pos, 1 neg"):
            model.pair_features(POS[:2], NEG[:1], spec)
    pos, neg = m.pair_features([], [], spec)
    assert pos.shape == neg.shape == (0, 1, 16)


def test_fake_backend_pairs_are_its_features() -> None:
    fake = FakeModel("f", 0.9)
    spec = FeatureSpec(layers=(0, -1))
    pos, neg = fake.pair_features(POS, NEG, spec)
    np.testing.assert_array_equal(pos, fake.features(POS, spec))
    np.testing.assert_array_equal(neg, fake.features(NEG, spec))


def test_hooks_and_cache_leave_no_trace(tiny_llama_dir: Path) -> None:
    """After pair features, a plain forward of the module is unchanged (hooks removed,
    nothing cached on the module)."""
    m = hf(tiny_llama_dir)
    enc = m.tokenizer()([POS[0]], return_tensors="pt")
    with torch.inference_mode():
        before = m.module()(**enc).last_hidden_state
    m.pair_features(POS, NEG, FeatureSpec(layers=(1,)))
    with torch.inference_mode():
        after = m.module()(**enc).last_hidden_state
    torch.testing.assert_close(after, before)
