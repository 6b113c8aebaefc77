from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from sandwich.errors import OfflineError, UnknownNameError
from sandwich.models import FeatureSpec, load_model
from sandwich.models.extract import length_batches, pad_batch, pool
from sandwich.models.hf import HFModel, detect_kind

SHORT = "the city of paris is in france ."
LONGER = [
    "the city of lyon is in germany .",
    "a very long sentence with many more words to make it longer than others and "
    "longer than the city of rome is in italy .",
    "rome",
]


def model(path: Path) -> HFModel:
    m = load_model(str(path), progress=False)
    assert isinstance(m, HFModel)
    return m


def test_lazy_construction_and_kind(tiny_llama_dir: Path, tiny_bert_dir: Path) -> None:
    llama, bert = model(tiny_llama_dir), model(tiny_bert_dir)
    assert llama.load_count == 0 and bert.load_count == 0
    assert (llama.kind, llama.num_layers, llama.hidden_size) == ("decoder", 2, 16)
    assert (bert.kind, bert.default_pooling) == ("encoder", "mean")
    assert llama.default_pooling == "last"
    llama.features([SHORT], FeatureSpec())
    llama.features([SHORT], FeatureSpec(layers=(0,)))
    assert llama.load_count == 1  # the torch module is cached on the object


@pytest.mark.parametrize("which", ["llama", "bert"])
@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_batching_does_not_change_features(
    which: str, pooling: str, tiny_llama_dir: Path, tiny_bert_dir: Path
) -> None:
    m = model(tiny_llama_dir if which == "llama" else tiny_bert_dir)
    spec = FeatureSpec(layers=(0, 1, 2), pooling=pooling)  # type: ignore[arg-type]
    alone = m.features([SHORT], spec)
    texts = [LONGER[0], SHORT, *LONGER[1:]]
    together = m.features(texts, spec)
    small_batches = m.features(texts, FeatureSpec(layers=(0, 1, 2), pooling=pooling, batch_size=1))  # type: ignore[arg-type]
    assert together.shape == (4, 3, 16) and together.dtype == np.float32
    np.testing.assert_allclose(together[1], alone[0], atol=1e-5)
    np.testing.assert_allclose(together, small_batches, atol=1e-5)


@pytest.mark.parametrize("which", ["llama", "bert"])
def test_truncated_forward_matches_output_hidden_states(
    which: str, tiny_llama_dir: Path, tiny_bert_dir: Path
) -> None:
    directory = tiny_llama_dir if which == "llama" else tiny_bert_dir
    m = model(directory)
    tok = m.tokenizer()
    enc = tok([SHORT], return_tensors="pt")
    with torch.inference_mode():
        ref = m.module().forward(**enc, output_hidden_states=True).hidden_states
    n = enc["input_ids"].shape[1]
    for k in range(3):  # deepest layer k: blocks after k are not run
        got = m.features([SHORT], FeatureSpec(layers=(k,), pooling="last"))[0, 0]
        np.testing.assert_allclose(got, ref[k][0, n - 1].numpy(), atol=1e-5)
        got_mean = m.features([SHORT], FeatureSpec(layers=(k,), pooling="mean"))[0, 0]
        np.testing.assert_allclose(got_mean, ref[k][0].mean(0).numpy(), atol=1e-5)
    # hooks are removed afterwards: a plain forward still works and is unchanged
    with torch.inference_mode():
        again = m.module().forward(**enc, output_hidden_states=True).hidden_states
    torch.testing.assert_close(again[-1], ref[-1])


def test_truncation_stops_early(tiny_llama_dir: Path) -> None:
    m = model(tiny_llama_dir)
    calls: list[int] = []
    blocks = m.module().layers
    handles = [
        b.register_forward_hook(lambda *_a, i=i: calls.append(i)) for i, b in enumerate(blocks)
    ]
    try:
        m.features([SHORT], FeatureSpec(layers=(1,)))
    finally:
        for h in handles:
            h.remove()
    assert calls == [0]


def test_pool_handles_left_and_right_padding() -> None:
    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).reshape(2, 4, 1)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert pool(hidden, right, "last")[:, 0].tolist() == [1.0, 7.0]
    assert pool(hidden, left, "last")[:, 0].tolist() == [3.0, 7.0]
    assert pool(hidden, right, "mean")[:, 0].tolist() == [0.5, 5.5]
    assert pool(hidden, left, "mean")[:, 0].tolist() == [2.5, 5.5]


def test_padding_uses_pad_id_not_zero() -> None:
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=3)
    assert ids.tolist() == [[5, 6, 7], [8, 3, 3]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    ids, mask = pad_batch([[5, 6, 7], [8]], pad_id=3, side="left")
    assert ids.tolist()[1] == [3, 3, 8] and mask.tolist()[1] == [0, 0, 1]


def test_length_batches_respect_limits() -> None:
    lengths = [5, 50, 7, 6, 49, 5, 8]
    batches = length_batches(lengths, batch_size=3, token_budget=100)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    for b in batches:
        assert (len(b) <= 3 and len(b) * max(lengths[i] for i in b) <= 100) or len(b) == 1
    assert [lengths[i] for i in batches[0]] == [5, 5, 6]


def test_fingerprint_tracks_content(tiny_llama_dir: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(tiny_llama_dir, tmp_path / "copy"))
    assert model(copy).fingerprint == model(tiny_llama_dir).fingerprint
    cfg = copy / "config.json"
    cfg.write_text(cfg.read_text().replace('"rms_norm_eps"', '"rms_norm_eps_x"'))
    assert model(copy).fingerprint != model(tiny_llama_dir).fingerprint


def test_detect_kind() -> None:
    from transformers import BertConfig, GPT2Config, LlamaConfig, T5Config

    assert detect_kind(LlamaConfig()) == "decoder"
    assert detect_kind(GPT2Config()) == "decoder"
    assert detect_kind(BertConfig()) == "encoder"
    assert detect_kind(BertConfig(architectures=["BertForMaskedLM"])) == "encoder"
    assert detect_kind(BertConfig(is_decoder=True)) == "decoder"
    with pytest.raises(Exception, match="encoder-decoder"):
        detect_kind(T5Config())


def test_hub_id_offline_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SANDWICH_ALLOW_DOWNLOAD", raising=False)
    for name in ("hf:sandwich-test/not-a-cached-model", "sandwich-test/not-a-cached-model"):
        with pytest.raises(OfflineError) as info:
            load_model(name)
        msg = str(info.value)
        assert "offline by default" in msg
        assert "allow_download=True" in msg and "SANDWICH_ALLOW_DOWNLOAD=1" in msg


def test_unknown_name_lists_nearest() -> None:
    with pytest.raises(UnknownNameError) as info:
        load_model("gemma3-270")
    msg = str(info.value)
    assert "Did you mean 'gemma3-270m'" in msg and "fake-strong" in msg


def test_directory_without_config(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"no config\.json"):
        load_model(str(tmp_path))
