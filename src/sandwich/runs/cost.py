"""The cost model of ``sandwich plan``: FLOPs from model sizes and token counts, seconds from
a throughput measured once per machine, memory from weights, activations and optimizer state.

Every formula is in docs/planning.md. In short, with ``N`` the parameters in a
model's block matmuls (attention and MLP projections: what every token
multiplies through; embeddings and the LM head are not used by feature
extraction or the classification head) and ``T`` tokens:

- forward (features, predictions, the judge's read): ``2 N T`` (times the depth fraction
  read, feature extraction stops at its layer), plus attention ``4 L s d_attn T``;
- training: forward + backward: ``6 N T`` per epoch (full), ``4 N T`` (LoRA: the
  activations' gradients only), ``2 N T + 4 N_top T`` (top); ``+ 2 N T`` with
  gradient checkpointing;
- generation: ``2 N`` per prompt token (prefill) and per new token (decode).

Time is FLOPs divided by the rate of the same operation measured on this
machine with a small random-initialised transformer (:func:`measure_throughput`),
so framework overheads are in the rate; stages that are not matmul-bound (probe
fits, the bootstrap, per-item bookkeeping, loading weights) use per-unit rates
measured the same way. Measurements are cached as JSON under
``<store root>/machine/`` keyed by a machine fingerprint (:func:`fingerprint`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from sandwich.errors import SandwichError
from sandwich.runs.kinds import MODEL_FREE_OPS, Work
from sandwich.store import ArtifactStore

if TYPE_CHECKING:
    from sandwich.elicit.base import ElicitorBase
    from sandwich.runs.config import FeatureConfig

THROUGHPUT_VERSION = 8


# -- model sizes -----------------------------------------------------------------------------

# models with a gated MLP (gate, up and down projections): 3 matrices of d x d_ff, else 2
_GATED = {"llama", "mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3",
          "gemma3_text", "phi3", "olmo", "olmo2", "granite", "smollm3"}  # fmt: skip

# encoder model types: no key/value cache, so contrast pairs run as two full passes
_ENCODERS = {"bert", "roberta", "xlm-roberta", "distilbert", "albert", "electra", "deberta",
             "deberta-v2", "mpnet", "modernbert"}  # fmt: skip

# the embedded GGUF models' HF config.json (as written by their conversion), for a cold store
# where they are not converted yet; read from the converted directory when it exists
KNOWN_CONFIGS: dict[str, dict[str, Any]] = {
    "smollm2-135m": {"model_type": "llama", "hidden_size": 576, "intermediate_size": 1536,
                     "num_hidden_layers": 30, "num_attention_heads": 9,
                     "num_key_value_heads": 3, "head_dim": 64, "vocab_size": 49152},
    "gemma3-270m": {"model_type": "gemma3_text", "hidden_size": 640, "intermediate_size": 2048,
                    "num_hidden_layers": 18, "num_attention_heads": 4,
                    "num_key_value_heads": 1, "head_dim": 256, "vocab_size": 262144},
}  # fmt: skip


@dataclass(frozen=True)
class Arch:
    """A transformer's shape, as the cost model needs it.

    ``block_params``: parameters in the blocks' matmuls (what a token multiplies
    through); ``params``: all parameters (block matmuls + embeddings); ``source``:
    where the numbers came from (``config``, ``known``, ``fake``, ``name``).
    """

    name: str
    layers: int
    hidden: int
    intermediate: int
    attn_dim: int  # heads x head_dim
    kv_dim: int
    vocab: int
    gated: bool
    source: str
    causal: bool = True  # a decoder: a contrast pair's shared start runs once (pair_tokens)

    @property
    def layer_params(self) -> int:
        attn = self.hidden * (2 * self.attn_dim + 2 * self.kv_dim)  # q, o; k, v
        mlp = (3 if self.gated else 2) * self.hidden * self.intermediate
        return attn + mlp

    @property
    def block_params(self) -> int:
        return self.layers * self.layer_params

    @property
    def params(self) -> int:
        return self.block_params + self.vocab * self.hidden

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "block_params": self.block_params, "params": self.params}


def arch_from_config(name: str, cfg: Mapping[str, Any], source: str = "config") -> Arch:
    """An :class:`Arch` from a Hugging Face ``config.json`` (its text config for multimodal)."""
    cfg = cfg.get("text_config") or cfg
    hidden = int(cfg.get("hidden_size") or cfg.get("n_embd") or cfg["d_model"])
    layers = int(cfg.get("num_hidden_layers") or cfg.get("n_layer") or cfg["num_layers"])
    heads = int(cfg.get("num_attention_heads") or cfg.get("n_head") or 1)
    head_dim = int(cfg.get("head_dim") or hidden // heads)
    kv = int(cfg.get("num_key_value_heads") or heads)
    inter = int(cfg.get("intermediate_size") or cfg.get("n_inner") or 4 * hidden)
    vocab, gated = int(cfg.get("vocab_size") or 0), cfg.get("model_type") in _GATED
    causal = cfg.get("model_type") not in _ENCODERS
    return Arch(name, layers, hidden, inter, heads * head_dim, kv * head_dim, vocab, gated, source,
                causal)  # fmt: skip


def _arch_from_params(name: str, n_params: float) -> Arch:
    """A shape guessed from a parameter count only (a hub id's "1.5B"): ``12 L d^2 = N``
    with the usual ``d / L = 64`` of decoders (plain MLP of 4d; no vocabulary)."""
    hidden = max(64, round((64 * n_params / 12) ** (1 / 3) / 64) * 64)
    layers = max(1, round(n_params / (12 * hidden * hidden)))
    return Arch(name, layers, hidden, 4 * hidden, hidden, hidden, 0, False, "name")


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([mMbB])\b")


def _hub_config(repo: str) -> dict[str, Any] | None:
    """A hub model's config.json from the local Hugging Face cache, if it is there."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - a dependency of transformers
        return None
    found = try_to_load_from_cache(repo, "config.json")
    if isinstance(found, str):
        return dict(json.loads(Path(found).read_text()))
    return None


def model_arch(name: str, store: ArtifactStore) -> Arch:
    """The shape of a model by name, read from its config without loading weights.

    Fake models: their parameters; registered embedded models: their config.json
    (the converted one if the store has it, else :data:`KNOWN_CONFIGS`); a local
    directory or a hub id in the HF cache: its config.json; an uncached hub id:
    a shape guessed from the size in its name (``Qwen2.5-1.5B``), source ``name``.
    """
    from sandwich.models import MODELS

    if name.startswith("fake-"):
        from sandwich.models.fake import FakeParams

        p = FakeParams()
        return Arch(name, p.num_layers, p.dim, 4 * p.dim, p.dim, p.dim, 0, False, "fake", False)
    if name in MODELS:
        cfg = _embedded_config(name, store)
        if cfg is not None:
            return arch_from_config(name, cfg)
        if name in KNOWN_CONFIGS:
            return arch_from_config(name, KNOWN_CONFIGS[name], "known")
        raise ValueError(f"model {name!r}: no config to read its size from")
    path = Path(name).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return arch_from_config(name, json.loads((path / "config.json").read_text()))
    repo = name.removeprefix("hf:")
    if (cfg := _hub_config(repo)) is not None:
        return arch_from_config(name, cfg)
    m = _SIZE.search(repo.rsplit("/", 1)[-1])
    if m is None:
        raise ValueError(
            f"model {name!r}: not in the local Hugging Face cache and no size in its name"
        )
    scale = 1e9 if m.group(2).lower() == "b" else 1e6
    return _arch_from_params(name, float(m.group(1)) * scale)


def model_width(name: str | None, store: ArtifactStore) -> int:
    """``name``'s hidden size (:func:`model_arch`), 0 for no model or one whose shape cannot
    be read: a stage's reads and fits then cost nothing rather than failing the plan."""
    try:
        return model_arch(name, store).hidden if name else 0
    except (SandwichError, ValueError):
        return 0


def _gguf_source(name: str) -> Callable[[], dict[str, str]] | None:
    """What identifies an embedded GGUF model's conversion (None: not one of them)."""
    from sandwich.models import embedded

    sources = {"smollm2-135m": embedded._smollm2_source, "gemma3-270m": embedded._gemma_source}
    return sources.get(name)


def _embedded_config(name: str, store: ArtifactStore) -> dict[str, Any] | None:
    """The config.json of an embedded model: in its package (minilm) or its converted
    directory in the store (GGUF models, once converted); None if neither exists yet."""
    from sandwich.models import convert, embedded

    try:
        if name == "minilm-l6":
            return dict(json.loads((embedded.minilm_dir() / "config.json").read_text()))
        source = _gguf_source(name)
        if source is None:
            return None
        found = store.lookup(convert.conversion_key(source()))
        if found is not None and (found / "config.json").is_file():
            return dict(json.loads((found / "config.json").read_text()))
    except Exception:  # a missing package: fall back to the known config
        return None
    return None


def converted(name: str, store: ArtifactStore) -> bool | None:
    """Whether an embedded GGUF model is converted in ``store`` (None: not a GGUF model)."""
    from sandwich.models import convert

    source = _gguf_source(name)
    if source is None:
        return None
    try:
        return store.path(convert.conversion_key(source())).exists()
    except Exception:  # a missing package: unknown
        return None


# -- tokens ----------------------------------------------------------------------------------

CHARS_PER_TOKEN = 4.0  # English text with BPE / SentencePiece vocabularies (docs/planning.md)
SPECIAL_TOKENS = 2  # BOS (and EOS / [SEP])


def text_tokens(texts: list[str]) -> np.ndarray:
    """A cheap token count per text: ``ceil(chars / 4) + 2`` (checked against the embedded
    models' tokenizers in docs/planning.md); no tokenizer is loaded."""
    n = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    return np.ceil(n / CHARS_PER_TOKEN).astype(np.int64) + SPECIAL_TOKENS


def feature_depth(layer: float | int, model: str, store: ArtifactStore) -> float:
    """The share of ``model``'s blocks a features pass at ``layer`` runs (it stops there):
    a float layer is that share; a block index counts from the end when negative; 1.0 when
    the model's size cannot be read."""
    if isinstance(layer, float):
        return layer
    try:
        layers = max(1, model_arch(model, store).layers)
    except (SandwichError, ValueError):
        return 1.0
    idx = layer + layers + 1 if layer < 0 else layer
    return min(1.0, max(0.0, idx / layers))


def pair_tokens(pos: list[str], neg: list[str], max_length: int, shared: bool) -> int:
    """Tokens a model reads for the contrast pairs (``pos[i]``, ``neg[i]``), by
    :func:`text_tokens`'s count. ``shared`` (a decoder, ``Model.pair_features``): the
    characters both halves start with are read once, then each half's own rest; else both
    halves in full. Each half is capped at ``max_length``."""
    full = np.minimum(text_tokens(pos), max_length) + np.minimum(text_tokens(neg), max_length)
    if not shared:
        return int(full.sum())
    starts = [p[: _common_start(p, q)] for p, q in zip(pos, neg, strict=True)]
    saved = text_tokens(starts) - 1  # the shared characters' tokens and the BOS
    return int((full - np.clip(saved, 0, full // 2)).sum())


def _common_start(a: str, b: str) -> int:
    """How many leading characters ``a`` and ``b`` share."""
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


# -- the machine's throughput ----------------------------------------------------------------


@dataclass(frozen=True)
class Throughput:
    """Rates measured on this machine (see :func:`measure_throughput`)."""

    forward_flops: float  # FLOP/s, batched inference (features, predictions, judge reads)
    train_flops: float  # FLOP/s, forward + backward
    adam_unit: float  # seconds per trainable parameter of one AdamW step
    decode_step: float  # seconds per decode step of generate(), fixed part (per batch)
    decode_layer: float  # seconds per block per decode step (per-module overhead)
    decode_param: float  # seconds per weight read in a decode step (memory bound, per batch)
    decode_param_row: float  # seconds per weight x sequence of a decode step (compute)
    load_bytes: float  # bytes/s, reading a saved model into memory
    probe_unit: float  # seconds per (row x feature) of the default probe fit (4 Cs + final)
    logconf_row: float  # seconds per (row x epoch) of the logconf probe (per-step overhead)
    logconf_unit: float  # seconds per (row x feature x epoch) of the logconf probe
    bootstrap_unit: float  # seconds per (resample x item) of the PGR bootstrap
    item_seconds: float  # seconds per item of per-item bookkeeping
    bt_unit: float  # seconds per (comparison x feature) of a Bradley-Terry fit, hard labels
    bt_soft_unit: float  # the same on soft labels (twice the rows, more lbfgs iterations)
    mass_mean_unit: float  # seconds per (row x feature) of a mass-mean fit (closed form)
    cov_unit: float  # seconds per (row x feature^2) of mass-mean's within-class covariance
    svd_unit: float  # seconds per (row x feature x min(row, feature)) of CRC's SVD
    ccs_unit: float  # seconds per (row x feature x restart x epoch) of CCS's AdamW steps
    icm_unit: float  # seconds per (proposal x claim) of ICM's search with its probe predictor
    icm_proposal: float  # ... and per proposal, whatever the claims
    detect_unit: float  # seconds per (resample x item) of truth's detection metrics
    read_fixed: float  # seconds per stored artifact read (lookup, open), whatever its size
    read_bytes: float  # bytes/s of a stored artifact's arrays read into memory
    device: str = "cpu"
    threads: int = 1  # torch's threads when the forward and training rates were measured
    extra: dict[str, Any] = field(default_factory=dict)
    # FLOP/s of the same forward by kernel (:func:`forward_kernel`): each dtype features run
    # in, with torch's default linears and packed ones (``forward_flops``: float32 default)
    forward_rates: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def forward_rate(self, kernel: str | None = None) -> float:
        """FLOP/s of a batched forward on ``kernel``: its measured rate, else its dtype's
        with torch's default linears, else :attr:`forward_flops` (also for ``None``)."""
        if kernel is None:
            return self.forward_flops
        dtype = kernel.split("+")[0]
        return self.forward_rates.get(kernel) or self.forward_rates.get(dtype) or self.forward_flops

    @classmethod
    def fixed(cls, **overrides: Any) -> Throughput:
        """Round, made-up rates (overridable) for plans that must not measure the machine:
        tests and examples that check what a plan lists, not how long it takes."""
        rates: dict[str, Any] = {
            "forward_flops": 1e10, "train_flops": 1e10, "adam_unit": 1e-9, "decode_step": 1e-3,
            "decode_layer": 1e-4, "decode_param": 1e-11, "decode_param_row": 1e-12,
            "load_bytes": 1e9, "probe_unit": 1e-7, "logconf_row": 1e-5, "logconf_unit": 1e-7,
            "bootstrap_unit": 1e-9, "item_seconds": 1e-6, "bt_unit": 1e-7, "bt_soft_unit": 5e-7,
            "mass_mean_unit": 1e-8, "cov_unit": 1e-10, "svd_unit": 1e-10, "ccs_unit": 1e-10,
            "icm_unit": 1e-6, "icm_proposal": 1e-5, "detect_unit": 1e-8, "read_fixed": 1e-3,
            "read_bytes": 1e9,
        }  # fmt: skip
        return cls(**{**rates, **overrides})


def _tiny_llama(
    hidden: int = 512, layers: int = 4, vocab: int = 512, inter: int | None = None
) -> tuple[Any, Arch]:
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(hidden_size=hidden, intermediate_size=inter or 3 * hidden,
                      num_hidden_layers=layers, num_attention_heads=8, num_key_value_heads=8,
                      vocab_size=vocab, max_position_embeddings=512)  # fmt: skip
    import torch

    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).eval()
    return model, arch_from_config("tiny", cfg.to_dict())


def _best(fn: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` timed calls after a warm-up: what the machine does when the
    operation has the CPU (other processes' load only ever slows a call down)."""
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def measure_throughput(device: str = "cpu", repeat: int = 3) -> dict[str, Any]:
    """Time the operations the cost model counts, on a random-initialised 4-block Llama
    (512-d, 13M block parameters: the scale of the embedded models' blocks) and small
    probe / bootstrap problems. A few seconds; the result is cached per machine."""
    import torch
    from transformers.utils import logging as hf_logging

    from sandwich.models.hf import quiet_weight_loading

    hf_logging.set_verbosity_error()  # the tiny model's load report is no news
    model, arch = _tiny_llama()
    model.to(device)
    n_block = arch.block_params
    seq = 24
    ids = torch.randint(0, arch.vocab, (8, seq), device=device)
    kernels = _forward_kernel_rates(model, arch, seq, device, repeat)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def backward() -> None:
        out = model.model(input_ids=ids[:8]).last_hidden_state
        out[:, -1].sum().backward()

    model.train()
    train = _best(backward, repeat)
    adam = _best(opt.step, repeat)  # the gradients of the last backward
    model.eval()
    with tempfile.TemporaryDirectory() as tmp, quiet_weight_loading():
        model.save_pretrained(tmp)
        nbytes = sum(f.stat().st_size for f in Path(tmp).iterdir())
        from transformers import AutoModel

        load = _best(lambda: AutoModel.from_pretrained(tmp), repeat)
    decode = _decode_rates(device, repeat)
    probe = _probe_rate(600, 512, repeat)
    logconf_row, logconf_unit = _logconf_rates(repeat)
    boot = _bootstrap_rate(repeat)
    items = _best(lambda: [hashlib.sha256(str(i).encode()).hexdigest() for i in range(2000)], 3)
    rates: dict[str, Any] = {**_fit_rates(repeat), **_read_rates(repeat)}
    return Throughput(
        forward_flops=kernels["float32"],
        train_flops=6 * n_block * 8 * seq / train,
        adam_unit=adam / sum(p.numel() for p in model.parameters()),
        decode_step=decode["decode_step"],
        decode_layer=decode["decode_layer"],
        decode_param=decode["decode_param"],
        decode_param_row=decode["decode_param_row"],
        load_bytes=nbytes / load,
        probe_unit=probe,
        logconf_row=logconf_row,
        logconf_unit=logconf_unit,
        bootstrap_unit=boot,
        item_seconds=items / 2000,
        **rates,
        device=device,
        threads=torch.get_num_threads(),
        forward_rates=kernels,
    ).to_dict()


def feature_params(cfg: FeatureConfig, seq: int) -> dict[str, Any]:
    """A feature-extraction forward's params: ``features``' batch and dtype, and ``extract``
    (its module's linears are packed where that is faster, as ``HFModel`` does; the
    planner resolves both, :meth:`sandwich.runs.planning._Costs.kernel`)."""
    return {"seq": seq, "batch": cfg.batch_size, "dtype": cfg.dtype, "extract": True}


def forward_kernel(dtype: str, packed: bool) -> str:
    """The name of a forward's kernel in :attr:`Throughput.forward_rates`."""
    return f"{dtype}+packed" if packed else dtype


def _forward_kernel_rates(
    model: Any, arch: Arch, seq: int, device: str, repeat: int
) -> dict[str, float]:
    """FLOP/s of ``model``'s batched forward (``seq`` tokens a row) in each dtype features
    run in, at its own ``batch_size: auto`` rows (float32 32, bfloat16 128), with torch's
    default linears and (CPU only) packed ones (:mod:`sandwich.models.prepack`). A kernel
    this machine cannot run is left out; float32 with default linears always runs."""
    import copy

    import torch

    from sandwich.models import prepack
    from sandwich.models.precision import BATCH_SIZE

    rates: dict[str, float] = {}
    for dtype in ("float32", "bfloat16"):
        ids = torch.randint(0, arch.vocab, (BATCH_SIZE[dtype], seq), device=device)
        for packed in (False, True) if device == "cpu" else (False,):
            baseline = dtype == "float32" and not packed  # the model itself: must run
            try:
                mod = model.model
                if not baseline:  # a copy: the model itself stays as it is
                    mod = copy.deepcopy(mod).to(getattr(torch, dtype)).eval()
                if packed:
                    prepack.pack(mod)
                secs = _best(functools.partial(_no_grad_forward, mod, ids), repeat)
            except (RuntimeError, AttributeError, NotImplementedError):
                if baseline:
                    raise
                continue
            rates[forward_kernel(dtype, packed)] = 2 * arch.block_params * ids.numel() / secs
    return rates


def _no_grad_forward(module: Any, ids: Any) -> None:
    import torch

    with torch.no_grad():
        module(input_ids=ids)


def _probe_rate(n: int, d: int, repeat: int = 3) -> float:
    """Seconds per (row x feature) of the default logistic probe (4 C values on a held-out
    part, then the final fit) on features shaped like hidden states: strongly correlated
    (a spectrum falling as 1/k) with an offset, so lbfgs needs as many iterations as on real
    features (230 in all here; 190-300 on the demo's hidden states of cities, where random
    features converge far sooner: docs/planning.md). The shape (600 x 512) is the demo's
    (480-600 rows of 384-640 features), so the matrix-vector products touch as much memory."""
    from sandwich.elicit import ELICITORS, Elicitor

    rng = np.random.default_rng(0)
    X = _hidden_like(n, d, rng)
    score = X @ rng.standard_normal(d)
    y = 1 / (1 + np.exp(-2 * (score - score.mean()) / score.std()))
    probe = cast(Elicitor, ELICITORS.build("probe"))
    return _best(lambda: probe.fit(X, y, random_state=0), repeat) / (n * d)


def _logconf_rates(repeat: int, n: int = 400, dims: tuple[int, int] = (32, 640)) -> tuple[
    float, float
]:  # fmt: skip
    """(seconds per row x epoch, seconds per row x feature x epoch) of the logconf probe (the
    elicitor's own code), from epochs at two widths: a minibatch step's fixed cost (small
    torch operations) dominates at the demo's widths, so a per-feature rate alone measured
    at one width mis-scales to another."""
    from sandwich.elicit import ELICITORS, Elicitor

    rng = np.random.default_rng(0)
    probe = cast(Elicitor, ELICITORS.build("probe-logconf", epochs=2))
    per_epoch = []
    for d in dims:
        X, y = rng.standard_normal((n, d)).astype(np.float32), rng.random(n)
        per_epoch.append(_best(lambda: probe.fit(X, y, random_state=0), repeat) / 2)  # noqa: B023
    unit = max(0.0, (per_epoch[1] - per_epoch[0]) / (dims[1] - dims[0])) / n
    row = max(0.0, per_epoch[0] / n - unit * dims[0])
    return row, unit


# decode timing: (hidden, layers, vocab, intermediate, sequences) of the random models timed
_DECODE_SHALLOW = (64, 2, 256, 128, 1)
_DECODE_DEEP = (64, 8, 256, 128, 1)
_DECODE_WIDE = (768, 4, 32000, 2048)


def _decode_step(model: Any, rows: int, device: str, repeat: int, new: int = 8) -> float:
    """Seconds per decode step of ``generate`` (greedy, KV cache): (time for 1 + new tokens
    - time for 1 token) / new, so the prefill cancels."""
    import torch

    ids = torch.randint(3, model.config.vocab_size, (rows, 16), device=device)

    def gen(n: int) -> Callable[[], object]:
        def run() -> object:
            with torch.inference_mode():
                return model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                      max_new_tokens=n, min_new_tokens=n, do_sample=False,
                                      pad_token_id=0)  # fmt: skip

        return run

    return max(0.0, (_best(gen(1 + new), repeat) - _best(gen(1), repeat)) / new)


def _decode_rates(device: str, repeat: int) -> dict[str, float]:
    """The decode-step model ``step + layers x layer + P x (param + rows x param_row)`` (P:
    the weights a step reads, blocks and LM head) fitted to ``generate`` on random Llamas:
    two shallow/deep models too small for their weights to matter (the per-step and
    per-block overheads), and a 768-d one with a 32k vocabulary (53M weights a step) at
    one and at 8 sequences (the weights' memory traffic, and the arithmetic per sequence)."""
    out: list[float] = []
    for hidden, layers, vocab, inter, rows in (_DECODE_SHALLOW, _DECODE_DEEP):
        model, _ = _tiny_llama(hidden, layers, vocab, inter)
        out.append(_decode_step(model.to(device).eval(), rows, device, repeat))
    layer = max(0.0, (out[1] - out[0]) / (_DECODE_DEEP[1] - _DECODE_SHALLOW[1]))
    step = max(0.0, out[0] - layer * _DECODE_SHALLOW[1])
    hidden, layers, vocab, inter = _DECODE_WIDE
    model, arch = _tiny_llama(hidden, layers, vocab, inter)
    model = model.to(device).eval()
    weights = arch.block_params + arch.vocab * arch.hidden
    fixed = step + layers * layer
    one, eight = (max(0.0, _decode_step(model, r, device, repeat) - fixed) for r in (1, 8))
    param_row = max(0.0, (eight - one) / 7) / weights
    param = max(0.0, one / weights - param_row)
    return {"decode_step": step, "decode_layer": layer, "decode_param": param,
            "decode_param_row": param_row}  # fmt: skip


def _bootstrap_rate(repeat: int) -> float:
    """Seconds per (resample x test item) of :func:`sandwich.metrics.pgr_with_ci`."""
    from sandwich.metrics import pgr_with_ci

    rng = np.random.default_rng(0)
    n, n_boot = 400, 500
    y = (rng.random(n) < 0.5).astype(float)
    weak, student, ceiling = (np.clip(y * 0.6 + rng.random(n) * 0.4, 0, 1) for _ in range(3))
    run = lambda: pgr_with_ci(y, weak, student, ceiling, n_boot=n_boot, seed=0)  # noqa: E731
    return _best(run, repeat) / (n * n_boot)


def _hidden_like(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` synthetic rows of ``d`` features correlated like hidden states (a spectrum
    falling as 1/k, an offset): iterative fits need as many steps as on real features."""
    mix = rng.standard_normal((d, d)) / np.sqrt(d) / np.arange(1, d + 1)[:, None]
    out: np.ndarray = rng.standard_normal((n, d)) @ mix * 10 + rng.standard_normal(d) * 5
    return out.astype(np.float32)


def _bt_rates(repeat: int, prompts: int = 58, k: int = 8, d: int = 576) -> dict[str, float]:
    """Seconds per (comparison x feature) of the Bradley-Terry head's fit
    (:class:`~sandwich.rewards.bradley_terry.BradleyTerryHead`, its own code) on hard and on
    soft preferences, shaped like reward-demo's B split: every pair of ``k`` completions of
    each prompt, a completion's features its prompt's hidden-state-like features plus as
    much of its own, so there are fewer distinct completions than features, as on real ones
    (independent rows converge sooner). The labels are a supervisor's: hard ones the
    better completion by a linear reward with 30% of the answers wrong (an erring rater's
    0/1, as the nonexpert's), soft ones a graded gold's (each completion 0, 0.5 or 1 by the
    reward, a tie 0.5: about half the comparisons): they enter as four rows per comparison
    (hard ones two), and lbfgs takes more iterations (``benchmarks/fit_units.py`` prints
    both units; docs/planning.md)."""
    from sandwich.rewards.bradley_terry import BradleyTerryHead

    rng = np.random.default_rng(0)
    x = np.repeat(_hidden_like(prompts, d, rng), k, 0) + _hidden_like(prompts * k, d, rng)
    a, b = (np.array(side) for side in zip(*[
        (p * k + i, p * k + j) for p in range(prompts) for i in range(k) for j in range(i + 1, k)
    ], strict=True))  # fmt: skip
    reward = x @ rng.standard_normal(d)
    right = (reward[a] > reward[b]).astype(float)
    hard = np.where(rng.random(len(a)) < 0.3, 1.0 - right, right)
    grade = np.digitize(reward, np.quantile(reward, [0.4, 0.7])) / 2.0
    soft = np.where(grade[a] == grade[b], 0.5, (grade[a] > grade[b]).astype(float))
    head, n = BradleyTerryHead(), len(a)
    return {name: _best(lambda: head.fit(x[a], x[b], y), min(repeat, 2)) / (n * d)  # noqa: B023
            for name, y in (("bt_unit", hard), ("bt_soft_unit", soft))}  # fmt: skip


def _reporter_rates(repeat: int) -> dict[str, float]:
    """The closed-form and iterative reporters' units, each from its own code on
    hidden-state-like features: mass-mean per row x feature (class means, Platt scaling),
    its covariance per row x feature^2 + feature^3 / 3 (the covariance and its solve), CRC per
    row x feature x min(row, feature) (an SVD), CCS per row x feature x restart x epoch (its
    full-batch AdamW steps; 20 epochs here, the units scale to its 1000), ICM's search with
    its probe predictor per proposal plus per proposal x claim, from two searches of 3000
    proposals on 64 and 256 claims (a proposal's products with the labelled claims' inverse
    kernel grow with the claims, on top of a fixed cost per proposal; one rate from 64
    claims alone overestimated a 256-claim search 3x; ``benchmarks/fit_units.py`` times
    them)."""
    from sandwich.elicit import ELICITORS, Elicitor

    rng = np.random.default_rng(0)
    n, d = 300, 256
    X, pairs = _hidden_like(n, d, rng), np.hstack([_hidden_like(n, d, rng)] * 2)
    pairs[:, d:] += rng.standard_normal((n, d)).astype(np.float32)
    score = X @ rng.standard_normal(d)
    y = (score > np.median(score)).astype(float)

    def timed(name: str, data: np.ndarray, **params: Any) -> float:
        model = cast(Elicitor, ELICITORS.build(name, **params))
        return _best(lambda: model.fit(data, y[: len(data)], random_state=0), repeat)

    epochs, restarts, iterations = 20, 10, 3000  # ICM: its default proposals
    small = timed("icm", pairs[:100], max_items=32, iterations=iterations) / iterations
    large = timed("icm", pairs, max_items=128, iterations=iterations) / iterations
    per_claim = max(large - small, 0.0) / (2 * 128 - 2 * 32)
    return {
        "icm_unit": per_claim,
        "icm_proposal": max(small - per_claim * 2 * 32, 0.0),
        "mass_mean_unit": timed("mass-mean", X) / (n * d),
        "cov_unit": timed("mass-mean", X, covariance=True) / (n * d * d + d**3 / 3),
        "svd_unit": timed("crc", pairs) / (n * d * min(n, d)),
        "ccs_unit": timed("ccs", pairs, epochs=epochs, restarts=restarts)
        / (n * d * epochs * restarts),
    }


def _fit_rates(repeat: int) -> dict[str, float]:
    """Every fit's unit but the probe's: Bradley-Terry, the reporters, and truth's metrics
    of one test set (``score_test``: ECE, AUROC and recall at two FPRs, each bootstrapped)."""
    from sandwich.metrics.calibration import ece_ci
    from sandwich.metrics.detection import auroc_ci, recall_at_fpr

    rng = np.random.default_rng(0)
    n, n_boot = 200, 200
    y, p = (rng.random(n) < 0.5).astype(float), rng.random(n)

    def detect_metrics() -> None:
        ece_ci(y, p, n_bins=10, n_boot=n_boot, seed=0)
        auroc_ci(1 - y, 1 - p, n_boot, 0)
        for fpr in (0.01, 0.05):
            recall_at_fpr(1 - y, 1 - p, fpr, n_boot, 0)

    detect = _best(detect_metrics, repeat) / (n * n_boot)
    return {**_bt_rates(repeat), **_reporter_rates(repeat), "detect_unit": detect}


def _read_rates(repeat: int) -> dict[str, float]:
    """(seconds per artifact, bytes/s) of reading a stored artifact's arrays
    (``ArtifactStore.arrays``): a 1 kB one and an 8 MB one, in a temporary store."""
    from sandwich.store import ArtifactKey

    sizes = (256, 2 * 1024 * 1024)  # float32 values
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        store = ArtifactStore(Path(tmp))
        for size in sizes:
            key = ArtifactKey("read-rate", 1, {"size": size})
            x = np.zeros(size, np.float32)
            store.arrays(key, lambda: {"x": x})  # noqa: B023
            times.append(_best(lambda: store.arrays(key, dict), repeat))  # noqa: B023
    per_byte = max(1e-12, (times[1] - times[0]) / (4 * (sizes[1] - sizes[0])))
    return {"read_fixed": max(0.0, times[0] - 4 * sizes[0] * per_byte), "read_bytes": 1 / per_byte}


def machine_throughput(
    store: ArtifactStore, device: str = "cpu", refresh: bool = False
) -> Throughput:
    """This machine's :class:`Throughput`, measured on first use and cached in the store
    (``<store>/machine/throughput-<key>.json``, :mod:`sandwich.models.machine`)."""
    from sandwich.models.machine import cached_measurement, fingerprint

    value = cached_measurement(store.root, "throughput", fingerprint(device),
                               lambda: measure_throughput(device), THROUGHPUT_VERSION,
                               force=refresh)  # fmt: skip
    return Throughput(**value)


# -- FLOPs, seconds, memory ------------------------------------------------------------------

ATTN_SEQ = 32  # the attention term's sequence length when a stage does not give one


def _attention(arch: Arch, tokens: float, seq: float) -> float:
    return 4.0 * arch.layers * seq * arch.attn_dim * tokens


def train_flops_per_token(arch: Arch, params: Mapping[str, Any]) -> float:
    """Forward + backward FLOPs per token: 6N full, 4N LoRA, 2N + 4N x top_k/L top;
    + 2N with gradient checkpointing (the forward again)."""
    n = arch.block_params
    mode = params.get("mode", "full")
    if mode == "lora":
        f = 4.0 * n
    elif mode == "top":
        f = 2.0 * n + 4.0 * n * min(1.0, params.get("top_k", 2) / arch.layers)
    else:
        f = 6.0 * n
    return f + (2.0 * n if params.get("gradient_checkpointing") else 0.0)


def work_flops(work: Work, arch: Arch | None) -> float:
    """FLOPs of a forward, train or generate work item (0 for the others, and without a model)."""
    if arch is None:
        return 0.0
    seq = work.params.get("seq", ATTN_SEQ)
    head = 2.0 * arch.vocab * arch.hidden  # the LM head, per token it scores
    if work.op == "forward":  # + the head at every token when scoring answers (the judge)
        lm = head * work.tokens if work.params.get("head") else 0.0
        return work.depth * (2.0 * arch.block_params * work.tokens
                             + _attention(arch, work.tokens, seq)) + lm  # fmt: skip
    if work.op == "train":
        per = train_flops_per_token(arch, work.params)
        return work.passes * (per * work.tokens + 3 * _attention(arch, work.tokens, seq))
    if work.op == "generate":  # the head scores the last prompt token and every new one
        total = work.items * (work.tokens + work.new_tokens)
        lm = head * work.items * (work.new_tokens + 1)
        return 2.0 * arch.block_params * total + _attention(arch, total, work.tokens) + lm
    return 0.0


def work_seconds(
    work: Work, arch: Arch | None, tp: Throughput, kernel: str | None = None
) -> float | None:
    """Estimated seconds of one work item; None when it runs elsewhere (a remote server).
    ``kernel``: a forward's (:func:`forward_kernel`; the planner resolves it), else float32
    with torch's default linears."""
    if work.params.get("remote"):
        return None
    flops = work_flops(work, arch)
    if work.op == "forward":
        return flops / (tp.forward_rate(kernel) * thread_share(work, tp))
    if work.op == "train":
        steps = math.ceil(work.items / max(1, int(work.params.get("step_items", 32))))
        adam = steps * work.passes * trainable_params(arch, work.params) * tp.adam_unit
        return flops / (tp.train_flops * thread_share(work, tp)) + adam
    if work.op == "generate":
        return generate_seconds(work, arch, tp)
    dim = float(work.params.get("dim", 1))
    if work.op == "probe":  # the unit is for the default 4 C values + the final fit
        return tp.probe_unit * work.items * dim * work.params.get("n_fits", 5) / 5
    if work.op == "logconf":
        return (tp.logconf_row + tp.logconf_unit * dim) * work.items * work.passes
    if work.op == "fit":
        return fit_seconds(work, tp)
    if work.op == "bootstrap":
        return tp.bootstrap_unit * work.items * work.params.get("n_boot", 1000)
    if work.op == "detect":
        return tp.detect_unit * work.items * work.params.get("n_boot", 1000)
    if work.op == "read":
        return tp.read_fixed * work.items + float(work.params.get("bytes", 0)) / tp.read_bytes
    if work.op == "load":
        return (arch.params * 4 if arch else 0) / tp.load_bytes
    return tp.item_seconds * work.items


def thread_share(work: Work, tp: Throughput) -> float:
    """The share of the measured rate a forward or training pinned to ``params["threads"]``
    torch threads gets: ``threads / T`` when the rate was measured on ``T`` > ``threads``
    (a matmul-bound pass scales about linearly over a few cores), else 1."""
    threads = work.params.get("threads")
    if not threads or threads >= tp.threads:
        return 1.0
    return float(threads) / tp.threads


def fit_seconds(work: Work, tp: Throughput) -> float:
    """Seconds of a ``fit`` work item by what its solver does on ``n`` rows of ``d``
    features: a Bradley-Terry lbfgs fit (``n`` comparisons; soft labels: twice the rows and
    more iterations), mass-mean's class means (+ its covariance ``n d^2`` and solve
    ``d^3 / 3``), CRC's SVD (``n d min(n, d)``), CCS's full-batch steps
    (``n d x restarts x epochs``), ICM's search (``proposals x (1 + claims)``); each at its unit
    measured on this machine."""
    n, d = float(work.items), float(work.params.get("dim", 1))
    solver = work.params.get("solver")
    if solver == "bt":
        return (tp.bt_soft_unit if work.params.get("soft", True) else tp.bt_unit) * n * d
    if solver == "mass-mean":
        cov = tp.cov_unit * (n * d * d + d**3 / 3) if work.params.get("covariance") else 0.0
        return tp.mass_mean_unit * n * d + cov
    if solver == "crc":
        return tp.svd_unit * n * d * min(n, d)
    if solver == "icm":  # the annealing: each proposal's products with the labelled claims
        per_proposal = tp.icm_proposal + tp.icm_unit * work.params["claims"]
        return float(work.params.get("iterations", 3000)) * per_proposal
    if solver == "ccs":
        steps = float(work.params.get("restarts", 10)) * float(work.params.get("epochs", 1000))
        return tp.ccs_unit * n * d * steps
    raise ValueError(
        f"a fit work item with solver {solver!r}: the plan costs bt, mass-mean, crc, icm and "
        "ccs fits (an elicitor declares its solver as `ElicitorBase.solver`, a "
        "sandwich.elicit.base.Solver)"
    )


def reporter_work(reporter: ElicitorBase, rows: int, dim: int) -> tuple[Work, ...]:
    """The fit of a features-reading elicitor on ``rows`` items of a ``dim``-wide model, by
    what its solver does: contrast reporters read both halves of a pair (each ``dim``
    wide) but their solvers work on one (normalised halves, their difference); closed-form
    ones (mass-mean, CRC) cost a pass or an SVD, not lbfgs; CCS its AdamW steps; the
    logconf probe its epochs; ICM (its probe predictor) its search's proposals; the default
    probe its lbfgs fits (``len(Cs) + 1``). In-context ICM is costed by its prompts
    (:func:`sandwich.runs.w2s.stage_plan.icm_context_work`)."""
    hp = reporter.get_params()
    params: dict[str, Any]
    if reporter.solver in ("mass-mean", "crc"):
        params = {"solver": reporter.solver, "dim": dim, "covariance": bool(hp.get("covariance"))}
        return (Work("fit", items=rows, params=params),)
    if reporter.solver == "ccs":
        params = {"solver": "ccs", "dim": dim, "restarts": hp.get("restarts", 10),
                  "epochs": hp.get("epochs", 1000)}  # fmt: skip
        return (Work("fit", items=rows, params=params),)
    if reporter.solver == "icm":  # the search over both halves of min(max_items, rows) pairs
        params = {"solver": "icm", "dim": dim, "iterations": hp.get("iterations", 3000),
                  "claims": 2 * min(int(hp.get("max_items", 128)), rows)}  # fmt: skip
        return (Work("fit", items=rows, params=params),)
    if reporter.solver == "logconf":  # a trained probe
        return (Work("logconf", items=rows, passes=float(hp["epochs"]), params={"dim": dim}),)
    width = 2 * dim if reporter.needs_contrast else dim
    n_fits = len(hp.get("Cs", (1.0,))) + 1
    return (Work("probe", items=rows, params={"dim": width, "n_fits": n_fits}),)


def decode_batch(work: Work) -> int:
    """Sequences decoded together: the generator's batch (``params["batch"]``, default 8),
    at most the work's sequences."""
    return max(1, min(max(1, work.items), int(work.params.get("batch", 8))))


def generate_seconds(work: Work, arch: Arch | None, tp: Throughput) -> float:
    """Seconds of a generation: the prefill at the batched forward rate, then per batch of
    ``B`` sequences ``new_tokens`` decode steps of
    ``step + L x layer + (N + H) x (param + B x param_row)`` (:func:`_decode_rates`): a
    small model's step is mostly per-step and per-block overhead, a larger one's the weights
    (blocks and LM head ``H``) it reads once per step and multiplies by each sequence."""
    if arch is None or work.items == 0:
        return 0.0
    b = decode_batch(work)
    batches = math.ceil(work.items / b)
    prefill = work.items * (2.0 * arch.block_params * work.tokens + 2.0 * arch.vocab * arch.hidden)
    prefill += _attention(arch, work.items * work.tokens, work.tokens)
    weights = arch.block_params + arch.vocab * arch.hidden
    step = (tp.decode_step + arch.layers * tp.decode_layer
            + weights * (tp.decode_param + b * tp.decode_param_row))  # fmt: skip
    return prefill / tp.forward_flops + batches * work.new_tokens * step


def trainable_params(arch: Arch | None, params: Mapping[str, Any]) -> int:
    """Parameters a training updates: all (full), ``top_k`` blocks (top), or LoRA's
    ``2 r (d + d_attn)`` per adapted q/v pair per block (the head's ``d`` aside)."""
    if arch is None:
        return 0
    mode = params.get("mode", "full")
    if mode == "lora":
        return arch.layers * 2 * int(params.get("lora_r") or 8) * (arch.hidden + arch.attn_dim)
    if mode == "top":
        return int(arch.layer_params * int(params.get("top_k") or 2))
    return arch.params


BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def _batch(value: int | str, dtype: str) -> int:
    """A work item's batch: ``auto`` (features' ``batch_size: auto``) is the dtype's own
    (:data:`sandwich.models.precision.BATCH_SIZE`); with the dtype itself ``auto``, the
    largest of them (an upper bound on memory)."""
    from sandwich.models.precision import BATCH_SIZE

    if value == "auto":
        return BATCH_SIZE.get(dtype, max(BATCH_SIZE.values()))
    return int(value)


def memory_bytes(work: Work, arch: Arch | None, dtype: str = "float32") -> float:
    """Peak memory of one work item: weights + activations (+ gradients and AdamW state).

    weights: ``P x b`` (b bytes per value); inference activations: one batch of
    ``B s`` tokens through one block, ``B s (4 d + 2 d_ff) b`` (the block's
    widest intermediates) plus the captured hidden states ``B s d b``;
    training: activations of every block kept for the backward,
    ``L B s (10 d + 3 d_ff) b`` (none but one block's with checkpointing), gradients
    ``P_train x 4`` and AdamW's two moments ``P_train x 8`` (fp32). LoRA trains
    ``2 r (d + d_attn)`` per adapted pair of q/v projections per block.
    """
    if arch is None or work.op in MODEL_FREE_OPS:
        return 0.0
    b = BYTES.get(str(work.params.get("dtype", dtype)), 4)
    weights = arch.params * b
    if work.op == "load":
        return weights
    d, ff = arch.hidden, arch.intermediate
    seq = work.params.get("seq", ATTN_SEQ)
    batch = _batch(work.params.get("batch", 32), str(work.params.get("dtype", dtype)))
    if work.op in ("forward", "generate"):
        rows = batch * (seq + (work.new_tokens if work.op == "generate" else 0))
        kv = 2 * arch.layers * arch.kv_dim * rows * b if work.op == "generate" else 0
        return weights + rows * (4 * d + 2 * ff) * b + rows * d * b + kv
    rows = batch * seq
    layers_kept = 1 if work.params.get("gradient_checkpointing") else arch.layers
    acts = layers_kept * rows * (10 * d + 3 * ff) * 4
    return arch.params * 4 + acts + trainable_params(arch, work.params) * (4 + 8)


def human(x: float | None, unit: str = "") -> str:
    """1234567 -> '1.2M' (SI prefixes); None -> '?'."""
    if x is None:
        return "?"
    if x == 0:
        return f"0{unit}"
    for p, s in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= p:
            return f"{x / p:.1f}{s}{unit}"
    return f"{x:.3g}{unit}"


def seconds_text(s: float | None) -> str:
    if s is None:
        return "?"
    if s < 60:
        return f"{s:.1f}s"
    if s < 3600:
        return f"{s / 60:.1f}min"
    return f"{s / 3600:.1f}h"
