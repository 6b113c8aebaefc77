"""FastRMSNorm: the same function as transformers' RMSNorms, without a float32 copy."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn

from sandwich.models import FeatureSpec, load_model
from sandwich.models.rmsnorm import FastRMSNorm, convention_of, speed_up_norms, swapped_count


def tiny_gemma3() -> nn.Module:
    from transformers import Gemma3TextConfig, Gemma3TextModel

    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=64,
        sliding_window=8, pad_token_id=0,
    )  # fmt: skip
    model = Gemma3TextModel(config).eval()
    with torch.no_grad():  # Gemma initialises its norms' weights at 0: make them matter
        for name, p in model.named_parameters():
            if "norm" in name:
                p.normal_(0.0, 0.5)
    return model


def tiny_llama() -> nn.Module:
    from transformers import LlamaConfig, LlamaModel

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
    )  # fmt: skip
    model = LlamaModel(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.normal_(1.0, 0.5)
    return model


BUILDERS = {  # (builder, convention, norms: per layer x 2 layers + the final one)
    "gemma3": (tiny_gemma3, "unit-offset", 6 * 2 + 1),
    "llama": (tiny_llama, "scale", 2 * 2 + 1),
}


def hidden(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state.float()


@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_the_swapped_model_computes_what_transformers_computes(family: str) -> None:
    build, convention, norms = BUILDERS[family]
    reference = build()
    fast = copy.deepcopy(reference)
    swapped = speed_up_norms(fast)
    assert sum(swapped.values()) == norms == swapped_count(fast)
    assert {m.convention for m in fast.modules() if isinstance(m, FastRMSNorm)} == {convention}
    assert fast.state_dict().keys() == reference.state_dict().keys()
    ids = torch.randint(1, 40, (3, 7), generator=torch.Generator().manual_seed(1))
    want = hidden(reference, ids)
    torch.testing.assert_close(hidden(fast, ids), want, rtol=1e-5, atol=1e-5)
    # in bfloat16: as close to float32 as transformers' own bf16 forward is, within 2x
    ours = (hidden(fast.to(torch.bfloat16), ids) - want).norm() / want.norm()
    theirs = (hidden(reference.to(torch.bfloat16), ids) - want).norm() / want.norm()
    assert float(ours) < max(2 * float(theirs), 1e-3)
    assert float(ours) < 0.02


@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_one_norm_in_bfloat16_stays_within_bf16_rounding(family: str) -> None:
    build, _, _ = BUILDERS[family]
    norm = next(m for m in build().modules() if type(m).__name__.endswith("RMSNorm"))
    fast = copy.deepcopy(norm)
    holder = nn.Sequential(fast)
    speed_up_norms(holder)
    x = torch.randn(64, norm.weight.numel(), generator=torch.Generator().manual_seed(2)) * 4
    with torch.inference_mode():
        want = norm(x)
        got = holder(x.bfloat16()).float()
    rel = (got - want).norm(dim=-1) / want.norm(dim=-1)
    assert float(rel.max()) < 2**-7  # two bf16 roundings (2^-9 each) and the scale's


def test_a_norm_of_another_convention_is_kept() -> None:
    class CentredRMSNorm(nn.Module):  # named like an RMSNorm, computes something else
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.ones(8))
            self.eps = 1e-6

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = x - x.mean(-1, keepdim=True)
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight

    model = nn.Sequential(CentredRMSNorm(), nn.Linear(8, 8))
    assert convention_of(model[0]) is None
    assert speed_up_norms(model) == {}
    assert isinstance(model[0], CentredRMSNorm)


def test_gradients_flow_through_the_fast_norm_outside_inference() -> None:
    norm = FastRMSNorm(nn.Parameter(torch.randn(16)), 1e-6, "unit-offset")
    x = torch.randn(4, 16, requires_grad=True)
    norm(x).square().sum().backward()
    assert x.grad is not None and norm.weight.grad is not None
    assert torch.isfinite(x.grad).all() and float(norm.weight.grad.abs().sum()) > 0


def test_feature_modules_use_the_fast_norm(tiny_llama_dir: Path) -> None:
    from transformers import AutoModel

    model = load_model(str(tiny_llama_dir), progress=False)
    for dtype in ("float32", "bfloat16"):
        assert swapped_count(model.module(dtype)) == 2 * 2 + 1  # type: ignore[attr-defined]
    tok = model.tokenizer()  # type: ignore[attr-defined]
    enc = tok(["the city of paris is in france ."], return_tensors="pt")
    reference = AutoModel.from_pretrained(tiny_llama_dir).eval()
    with torch.inference_mode():
        want = reference(**enc).last_hidden_state[0, -1]
    got = model.features(["the city of paris is in france ."], FeatureSpec(layers=(2,)))
    torch.testing.assert_close(torch.from_numpy(got[0, 0]), want, rtol=1e-5, atol=1e-5)
    plain = load_model(str(tiny_llama_dir), progress=False)
    plain.fast_norms = False  # type: ignore[attr-defined]  # transformers' own forward
    assert swapped_count(plain.module()) == 0  # type: ignore[attr-defined]
