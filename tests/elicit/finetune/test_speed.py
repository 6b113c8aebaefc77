"""What makes the training loop fast, and that none of it changes what it learns.

The allocator setting (no page faults for re-allocated buffers), the fused
optimizer, length-sorted minibatches, the cached frozen prefix of ``top`` mode
and the bf16 copies of frozen weights: each is checked against the plain way
on tiny random models.
"""

from __future__ import annotations

import contextlib
import functools
import resource
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from sandwich.elicit.finetune import allocator
from sandwich.elicit.finetune.classifier import trainable_state
from sandwich.elicit.finetune.data import encode
from sandwich.elicit.finetune.frozen import FrozenBf16
from sandwich.elicit.finetune.losses import xent
from sandwich.elicit.finetune.prefix import PrefixCache, frozen_prefix
from sandwich.elicit.finetune.train import (
    TrainSettings,
    Validation,
    _optimizer,
    bucket_by_length,
    predict,
    train,
)

from .conftest import separable_task
from .test_training import classifier

glibc = pytest.mark.skipif(not allocator.supported(), reason="mallopt is glibc's")
PAGES = 16 * 2**20 * 4 // 4096  # a 64 MiB tensor's pages


def minor_faults(fn: Callable[[], object]) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    fn()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def big_buffer() -> None:
    """Allocate, fill and free 64 MiB, as a training step does with activations."""
    torch.ones(16 * 2**20)


@glibc
def test_freed_memory_is_reused_inside_the_block_and_returned_after() -> None:
    big_buffer()
    assert minor_faults(big_buffer) > PAGES // 2  # glibc's default: mapped afresh every time
    with allocator.retain_freed_memory() as applied:
        assert applied
        # the heap grows (and faults) until its free top holds the buffer next to the small
        # objects allocated meanwhile: a few times; then the same pages are reused
        faults = [minor_faults(big_buffer) for _ in range(12)]
        assert sum(faults) < 4 * PAGES, faults  # glibc's defaults: 12 x PAGES
        with allocator.retain_freed_memory():  # nested: the inner block does not restore
            pass
        assert sum(minor_faults(big_buffer) for _ in range(4)) < 2 * PAGES
    # restored, and the kept memory returned to the OS (malloc_trim): touched again, it faults
    assert minor_faults(big_buffer) > PAGES // 2
    with allocator.retain_freed_memory(enabled=False) as applied:
        assert not applied


@glibc
def test_the_training_loop_reuses_freed_memory(llama_dir: Path) -> None:
    # the loss runs inside the loop: what a step allocates there is re-faulted or not
    faults: list[int] = []

    def loss(logits: torch.Tensor, target: torch.Tensor, progress: float) -> torch.Tensor:
        faults.append(minor_faults(big_buffer))
        return xent(logits, target, progress)

    clf, tok = classifier(llama_dir, "lora")
    texts, y = separable_task(48)
    settings = TrainSettings(epochs=1, lr=1e-2, batch_size=8, minibatch_size=4)
    train(clf, encode(tok, texts, 16), y, loss, settings, seed=0)
    # the heap grows a few times, then its pages are reused (glibc's defaults: PAGES a call)
    assert len(faults) == 12 and sum(faults) < 4 * PAGES, faults


def test_the_fused_optimizer_learns_what_the_unfused_one_does(llama_dir: Path) -> None:
    texts, y = separable_task(32, seed=2)
    states = {}
    for fused in (True, False):
        clf, tok = classifier(llama_dir, "full")
        settings = TrainSettings(epochs=2, lr=1e-2, batch_size=8, minibatch_size=4,
                                 fused_optimizer=fused)  # fmt: skip
        assert _optimizer(clf, settings, 8)[0].defaults["fused"] is (True if fused else None)
        train(clf, encode(tok, texts, 16), y, xent, settings, seed=0)
        states[fused] = trainable_state(clf)
    for name, value in states[False].items():
        torch.testing.assert_close(states[True][name], value, rtol=1e-4, atol=1e-5, msg=name)


def test_each_step_is_sorted_by_length_and_keeps_its_items(llama_dir: Path) -> None:
    _, tok = classifier(llama_dir, "lora")
    texts = [" ".join(["old"] * (1 + i % 7)) + " town" for i in range(40)]
    data = encode(tok, texts, 16)
    order = np.random.default_rng(0).permutation(40).tolist()
    got = bucket_by_length(order, data, 16)
    for start in range(0, 40, 16):
        step, before = got[start : start + 16], order[start : start + 16]
        assert sorted(step) == sorted(before)  # same items in each optimizer step
        lengths = [len(data.ids[i]) for i in step]
        assert lengths == sorted(lengths)

    def padded(o: list[int]) -> int:  # tokens in minibatches of 4, padded to their longest
        return sum(4 * max(len(data.ids[i]) for i in o[s : s + 4]) for s in range(0, len(o), 4))

    assert padded(got) < padded(order)


def test_sorting_within_steps_does_not_change_what_is_learned(llama_dir: Path) -> None:
    texts, y = separable_task(32, seed=3)
    texts = [t + " very" * (i % 5) for i, t in enumerate(texts)]  # lengths vary in a step
    states, step_losses = [], []
    for bucket in (True, False):
        clf, tok = classifier(llama_dir, "full")
        settings = TrainSettings(epochs=1, lr=1e-2, batch_size=8, minibatch_size=4,
                                 bucket_lengths=bucket)  # fmt: skip
        result = train(clf, encode(tok, texts, 16), y, xent, settings, seed=0)
        states.append(trainable_state(clf))
        step_losses.append(np.reshape(result.losses, (-1, 2)).mean(1))  # 2 minibatches a step
    np.testing.assert_allclose(step_losses[0], step_losses[1], rtol=0, atol=1e-6)
    # Adam divides by the gradient's scale: float rounding of tiny gradients shows as ~1e-5
    for name, value in states[1].items():
        torch.testing.assert_close(states[0][name], value, rtol=0, atol=1e-4, msg=name)


@pytest.mark.parametrize("which", ["llama", "bert"])
def test_the_cached_prefix_gives_the_full_forward_pass(
    which: str, llama_dir: Path, bert_dir: Path
) -> None:
    clf, tok = classifier(llama_dir if which == "llama" else bert_dir, "top", top_k=1)
    clf.head.weight.data.normal_()  # a non-zero head, so the logits tell items apart
    clf.eval()  # BERT's dropout off: the cache holds the prefix as at inference
    texts, _ = separable_task(12, seed=5)
    data = encode(tok, [t + " old" * (i % 3) for i, t in enumerate(texts)], 16)
    found = frozen_prefix(clf)
    assert found is not None and found[1] == 1  # 2 blocks, the top one trains
    cache = PrefixCache(*found)
    cache.fill(clf, data, contextlib.nullcontext, batch_size=5)
    rows = [7, 2, 11, 0]
    batch = data.batch(rows)
    with torch.no_grad():
        full = clf(batch["input_ids"], batch["attention_mask"])
        with cache.feeding(rows, torch.device("cpu")):
            cached = clf(batch["input_ids"], batch["attention_mask"])
    torch.testing.assert_close(cached, full, rtol=1e-5, atol=1e-6)
    assert not any("forward" in vars(b) for b in found[0])  # the skipped blocks are restored


def test_top_mode_on_cached_activations_learns_what_the_full_forward_does(
    llama_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    texts, y = separable_task(40, seed=4)
    val_texts, val_y = separable_task(16, seed=9)
    runs = {}
    for cache in (True, False):
        clf, tok = classifier(llama_dir, "top", top_k=1)
        calls = {"n": 0}
        forward = LlamaDecoderLayer.forward

        def counted(self, *args, calls=calls, forward=forward, **kwargs):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            return forward(self, *args, **kwargs)

        monkeypatch.setattr(LlamaDecoderLayer, "forward", counted)
        validation = Validation(encode(tok, val_texts, 16), lambda p: float(np.mean(p)))
        settings = TrainSettings(epochs=3, lr=1e-2, batch_size=8, minibatch_size=4,
                                 cache_frozen=cache)  # fmt: skip
        result = train(clf, encode(tok, texts, 16), y, xent, settings, seed=0,
                       validation=validation)  # fmt: skip
        monkeypatch.setattr(LlamaDecoderLayer, "forward", forward)
        runs[cache] = (result, predict(clf, encode(tok, val_texts, 16)), calls["n"])
    (cached, p_cached, n_cached), (full, p_full, n_full) = runs[True], runs[False]
    assert cached.losses == pytest.approx(full.losses, abs=1e-5)
    np.testing.assert_allclose(p_cached, p_full, atol=1e-5)
    assert p_full.std() > 0 and np.mean((p_full >= 0.5) == val_y) > 0.5  # it learned something
    # the frozen block ran once per cache batch (2 of 40 items) instead of per minibatch
    assert n_full - n_cached > 20


def test_frozen_weights_in_bf16_give_autocast_logits_and_come_back_unchanged(
    llama_dir: Path,
) -> None:
    clf, tok = classifier(llama_dir, "lora")
    clf.head.weight.data.normal_()
    batch = encode(tok, separable_task(6)[0], 16).batch(list(range(6)))
    before = {n: p.detach().clone() for n, p in clf.named_parameters()}
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        expected = clf(batch["input_ids"], batch["attention_mask"])
        low = FrozenBf16(clf)
        assert len(low) > 0 and all(p.dtype == torch.bfloat16 for p in low.params)
        got = clf(batch["input_ids"], batch["attention_mask"])
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    with low.original():
        assert all(p.dtype == torch.float32 for p in clf.parameters())
    low.restore()
    for n, p in clf.named_parameters():
        assert torch.equal(p, before[n]), n


def test_bf16_lora_training_evaluates_in_fp32_and_keeps_fp32_weights(llama_dir: Path) -> None:
    clf, tok = classifier(llama_dir, "lora")
    texts, y = separable_task(48, seed=7)
    val = encode(tok, separable_task(8, seed=8)[0], 16)
    scores: list[float] = []

    def score(p: np.ndarray) -> float:  # fp32 evaluation: predict would fail on bf16 weights
        scores.append(float(p.mean()))
        return scores[-1]

    settings = TrainSettings(epochs=2, lr=1e-2, batch_size=8, minibatch_size=4,
                             mixed_precision="bf16", evals_per_epoch=2)  # fmt: skip
    result = train(clf, encode(tok, texts, 16), y, xent, settings, seed=0,
                   validation=Validation(val, score))  # fmt: skip
    assert len(scores) == 4 and len(result.val_scores) == 4
    assert all(p.dtype == torch.float32 for p in clf.parameters())
    assert np.mean(result.losses[-3:]) < np.mean(result.losses[:3])


def test_short_bf16_batches_use_the_math_attention_with_the_same_logits(llama_dir: Path) -> None:
    from sandwich.elicit.finetune.train import short_attention

    clf, tok = classifier(llama_dir, "lora")
    clf.head.weight.data.normal_()
    batch = encode(tok, separable_task(6)[0], 16).batch(list(range(6)))
    ids = batch["input_ids"]
    assert isinstance(short_attention(ids, False), contextlib.nullcontext)
    assert isinstance(short_attention(torch.zeros(2, 65, dtype=torch.long), True),
                      contextlib.nullcontext)  # fmt: skip
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        flash = clf(ids, batch["attention_mask"])
        with short_attention(ids, True):
            math = clf(ids, batch["attention_mask"])
    torch.testing.assert_close(math, flash, rtol=0.02, atol=0.02)  # bf16 rounding


def test_the_thread_setting_applies_inside_and_is_restored_after() -> None:
    from sandwich.elicit.finetune.elicitor import torch_threads

    before = torch.get_num_threads()  # 1 here (the conftest's fixture)
    with torch_threads(2):
        assert torch.get_num_threads() == 2
        with torch_threads(None):  # None leaves the setting alone
            assert torch.get_num_threads() == 2
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(2):  # restored on an error too
        raise RuntimeError
    assert torch.get_num_threads() == before


def test_top_mode_cache_with_a_batch_loss_learns_what_the_full_forward_does(
    llama_dir: Path,
) -> None:
    # logconf's whole-batch no-grad pass reads the cached prefix too
    from sandwich.elicit.finetune.losses import logconf

    texts, y = separable_task(32, seed=6)
    loss = functools.partial(logconf, aux_weight=0.5, warmup_frac=0.0)
    states = []
    for cache in (True, False):
        clf, tok = classifier(llama_dir, "top", top_k=1)
        settings = TrainSettings(epochs=2, lr=1e-2, batch_size=8, minibatch_size=4,
                                 cache_frozen=cache)  # fmt: skip
        train(clf, encode(tok, texts, 16), y, loss, settings, seed=0)
        states.append(trainable_state(clf))
    for name, value in states[1].items():
        torch.testing.assert_close(states[0][name], value, rtol=0, atol=1e-4, msg=name)
