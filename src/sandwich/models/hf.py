"""Hugging Face transformers backends: a local directory or a hub id, loaded lazily.

A hub id is ``hf:<org>/<name>`` or any name containing "/" that is not an
existing path. sandwich is offline by default: a hub id is resolved from the
local Hugging Face cache only (``local_files_only``), and a model that is not
cached raises :class:`~sandwich.errors.OfflineError`. Opt in to downloading
with ``load_model(name, allow_download=True)`` or ``SANDWICH_ALLOW_DOWNLOAD=1``.

Encoder or decoder is read from the config (:func:`detect_kind`). Weights are
loaded on the first ``features()`` call, never at construction, and the torch
module is kept on the object (one copy per compute dtype used).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sandwich.errors import ConfigError, OfflineError, required
from sandwich.models.base import Backbone, DType, FeatureSpec, Model, Pooling, SpecDType
from sandwich.store import ArtifactStore
from sandwich.store.hashing import digest, file_digest

Kind = Literal["encoder", "decoder"]
_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")
_BIG_FILE = 256 * 1024 * 1024


def allow_download_default() -> bool:
    return os.environ.get("SANDWICH_ALLOW_DOWNLOAD", "").strip().lower() in {"1", "true", "yes"}


def is_hub_id(name: str) -> bool:
    """True for ``hf:org/name`` or an ``org/name`` string that is not an existing path."""
    return name.startswith("hf:") or ("/" in name and not Path(name).expanduser().exists())


def resolve_hub(name: str, allow_download: bool | None = None) -> Path:
    """The local snapshot directory of a hub id; download only if explicitly allowed."""
    from huggingface_hub import snapshot_download

    repo_id = name.removeprefix("hf:")
    allow = allow_download_default() if allow_download is None else allow_download
    try:
        return Path(snapshot_download(repo_id, local_files_only=not allow))
    except Exception as exc:  # LocalEntryNotFoundError, HTTP errors, bad ids
        if allow:
            raise OfflineError(f"could not download Hugging Face model {repo_id!r}: {exc}") from exc
        raise OfflineError(
            f"Hugging Face model {repo_id!r} is not in the local Hugging Face cache, and "
            "sandwich is offline by default (nothing downloads at run time). To download it, "
            "pass allow_download=True to load_model, or set SANDWICH_ALLOW_DOWNLOAD=1; or "
            "pass the path of a local model directory instead."
        ) from exc


def detect_kind(config: Any) -> Kind:
    """Encoder or decoder, from the config.

    Encoder-decoder models (``is_encoder_decoder``) are not supported. A model is a
    decoder if one of its ``architectures`` ends in ForCausalLM / LMHeadModel /
    ForConditionalGeneration, or ``is_decoder`` is set; otherwise, if it lists
    architectures (e.g. ``BertModel``), an encoder; with no architectures, a decoder
    iff its ``model_type`` has a causal-LM class and no masked-LM class.
    """
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    if getattr(config, "is_encoder_decoder", False):
        raise ConfigError(
            f"model type {config.model_type!r} is an encoder-decoder model; sandwich extracts "
            "features from encoder-only or decoder-only models"
        )
    archs = list(getattr(config, "architectures", None) or [])
    if any(a.endswith(_CAUSAL_SUFFIXES) for a in archs) or getattr(config, "is_decoder", False):
        return "decoder"
    if archs:
        return "encoder"
    mt = config.model_type
    causal = mt in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and mt not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
    return "decoder" if causal else "encoder"


def directory_fingerprint(directory: Path) -> str:
    """sha256 over the directory's files: full content hash of every file up to 256 MB,
    (name, size, mtime) for larger ones (hashing GBs on every load is too slow)."""
    parts = {}
    for f in sorted(directory.rglob("*")):
        if not f.is_file() or ".git" in f.parts or ".cache" in f.parts:
            continue
        rel = f.relative_to(directory).as_posix()
        st = f.stat()
        parts[rel] = (
            file_digest(f)
            if st.st_size <= _BIG_FILE
            else f"size={st.st_size},mtime={st.st_mtime_ns}"
        )
    return digest(parts)


class HFModel(Model):
    """A transformers backbone loaded lazily from a directory.

    ``source`` is the directory, or a callable returning it (called on first use;
    this is how embedded GGUF models are converted only when needed).
    ``fingerprint`` may be given when a cheaper, stronger identity is known (the
    weight file's sha256); else it is :func:`directory_fingerprint` of the directory.
    ``info`` (kind, num_layers, hidden_size) may be given so listing and layer
    resolution need no conversion; it is checked against the config on load.
    """

    def __init__(
        self,
        name: str,
        source: Path | Callable[[ArtifactStore], Path],
        *,
        fingerprint: str | None = None,
        info: tuple[Kind, int, int] | None = None,
        store: ArtifactStore | None = None,
        progress: bool = True,
        token_budget: int | None = None,
        shared_prefix: bool = True,
    ) -> None:
        self.name = name
        self._source = source
        self._fingerprint = fingerprint
        self._info = info
        self.store = store
        self.progress = progress
        self.token_budget = token_budget
        self.shared_prefix = shared_prefix  # pair_features: run a pair's shared prefix once
        self._dir: Path | None = source if isinstance(source, Path) else None
        self._modules: dict[str, Any] = {}
        self._tokenizer: Any = None
        self._auto: DType | None = None  # what dtype auto resolved to (see auto_dtype)
        self.packed: dict[str, str] = {}  # dtype -> why its linears are packed (see _pack)
        self.load_count = 0  # how many times weights were read from disk (for tests)

    # -- metadata ----------------------------------------------------------
    @property
    def directory(self) -> Path:
        """The HF directory (converting into the store on first use if needed)."""
        if self._dir is None and callable(self._source):  # else: a Path, set in __init__
            quiet = contextlib.nullcontext() if self.progress else quiet_weight_loading()
            with quiet:  # a GGUF conversion shows transformers' bar unless progress is off
                self._dir = self._source(self.store or ArtifactStore())
        return required(self._dir, f"model {self.name!r}: directory")

    @cached_property
    def _config(self) -> Any:
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(self.directory)

    def _text_config(self) -> Any:
        cfg = self._config
        return cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg

    @property
    def kind(self) -> Kind:  # type: ignore[override]
        return self._info[0] if self._info else detect_kind(self._config)

    @property
    def num_layers(self) -> int:
        return self._info[1] if self._info else int(self._text_config().num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        return self._info[2] if self._info else int(self._text_config().hidden_size)

    @property
    def default_pooling(self) -> Pooling:
        """ "mean" for encoders, "last" for decoders."""
        return "mean" if self.kind == "encoder" else "last"

    def default_spec(self, **overrides: Any) -> FeatureSpec:
        """A FeatureSpec with this model's default pooling."""
        return FeatureSpec(**{"pooling": self.default_pooling, **overrides})

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = directory_fingerprint(self.directory)
        return self._fingerprint

    # -- loading -----------------------------------------------------------
    # (loading converted weights takes a second or two: transformers' own
    # "Loading weights" bar is hidden so that only our feature bar shows)
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.directory)
        return self._tokenizer

    def module(self, dtype: SpecDType = "float32") -> Any:
        """The backbone (no LM head) in ``dtype`` (``auto``: :meth:`auto_dtype`), eval
        mode; loaded once per dtype and cached, for inference only: its linears may be
        packed for oneDNN (:meth:`_pack`). Training uses :meth:`training_backbone`."""
        if dtype == "auto":
            dtype = self.auto_dtype()
        if dtype not in self._modules:
            import torch
            from transformers import AutoModel

            # from disk in each dtype, never a cast copy of another dtype's module: a cast
            # would also cast buffers transformers keeps in float32 (RoPE's inv_freq), and
            # packed weights (see _pack) cannot be copied
            with quiet_weight_loading():
                mod = AutoModel.from_pretrained(self.directory, dtype=getattr(torch, dtype))
            self.load_count += 1
            self._check_info(mod.config)
            self._modules[dtype] = mod.eval()
            self._pack(dtype)
        return self._modules[dtype]

    def _machine_root(self) -> Path:
        """Where this model's per-machine measurements are cached: its store's root."""
        return (self.store or ArtifactStore()).root

    def feature_kernel(self, dtype: SpecDType) -> tuple[DType, bool]:
        resolved, _ = super().feature_kernel(dtype)
        return resolved, self._packs(resolved)[0]

    def _packs(self, dtype: DType) -> tuple[bool, str]:
        """Whether the ``dtype`` feature module's linears are packed for oneDNN here, and
        why (:mod:`sandwich.models.prepack`: measured once per machine, dtype and width)."""
        from sandwich.models import prepack

        return prepack.choose(dtype, self.hidden_size, self._machine_root())

    def _pack(self, dtype: DType) -> None:
        """Pack the linears of the ``dtype`` module for oneDNN if that is faster here."""
        from sandwich.models import prepack

        use, why = self._packs(dtype)
        if not use:
            return
        try:
            prepack.pack(self._modules[dtype])
        except (RuntimeError, AttributeError, NotImplementedError) as exc:
            del self._modules[dtype]  # maybe half packed: load again next time
            raise ConfigError(
                f"model {self.name!r}: packing its {dtype} linears for oneDNN failed "
                f"({type(exc).__name__}: {exc}); {why}: set {prepack.OVERRIDE_ENV}=auto "
                "(measures, and keeps torch's default matmul where packing fails) or off"
            ) from exc
        self.packed[dtype] = why

    def training_backbone(self) -> Backbone:
        """A fresh float32 copy of the backbone (train mode), its tokenizer and kind.

        For fine-tuning: the module is new on every call (never the cached
        feature-extraction module), so training cannot alter cached features.
        """
        import torch
        from transformers import AutoModel

        with quiet_weight_loading():
            mod = AutoModel.from_pretrained(self.directory, dtype=torch.float32)
        self.load_count += 1
        self._check_info(mod.config)
        return Backbone(mod.train(), self.tokenizer(), self.kind)

    def _check_info(self, config: Any) -> None:
        if self._info is None:
            return
        got = (detect_kind(self._config), config.num_hidden_layers, config.hidden_size)
        if got != self._info:
            raise ConfigError(
                f"model {self.name!r} at {self.directory}: expected (kind, layers, hidden) "
                f"{self._info}, the config says {got}; the registration is out of date"
            )

    # -- features ----------------------------------------------------------
    def auto_dtype(self) -> DType:
        """bfloat16 when this machine runs the model's shape class (its hidden size)
        faster in it and close enough, else float32: measured once per machine and
        cached in the store (:func:`sandwich.models.precision.choose`)."""
        from sandwich.models.precision import choose

        if self._auto is None:  # once per model object: keys are made for every stage
            self._auto = choose(
                "features", hidden_size=self.hidden_size, store_root=self._machine_root()
            ).dtype
        return self._auto

    def features(self, texts: Sequence[str], spec: FeatureSpec) -> np.ndarray:
        from sandwich.models.extract import DEFAULT_TOKEN_BUDGET, extract_features
        from sandwich.models.precision import batch_size

        spec = self.resolve_spec(spec)
        layers = self.resolve_layers(spec.layers)
        module = self.module(spec.dtype)
        return extract_features(
            module,
            self.tokenizer(),
            texts,
            layers,
            pooling=spec.pooling,
            num_layers=self.num_layers,
            batch_size=batch_size(spec.batch_size, spec.dtype),
            max_length=spec.max_length,
            token_budget=self.token_budget or DEFAULT_TOKEN_BUDGET,
            progress=self.progress,
            desc=f"{self.name} features",
        )

    def pair_features(
        self, pos: Sequence[str], neg: Sequence[str], spec: FeatureSpec
    ) -> tuple[np.ndarray, np.ndarray]:
        """Features of text pairs, as :meth:`Model.pair_features`. A decoder (with
        ``shared_prefix``, the default) runs the tokens a pair's halves share at the start
        once and only each half's own last tokens from the key/value cache
        (:func:`sandwich.models.extract.extract_pair_features`): a contrast pair then costs
        about one plain pass, not two. Encoders (no causal cache) take the batched pass."""
        if not self.shared_prefix or self.kind != "decoder":
            return super().pair_features(pos, neg, spec)
        from sandwich.models.extract import DEFAULT_TOKEN_BUDGET, extract_pair_features
        from sandwich.models.precision import batch_size

        spec = self.resolve_spec(spec)
        return extract_pair_features(
            self.module(spec.dtype),
            self.tokenizer(),
            pos,
            neg,
            self.resolve_layers(spec.layers),
            pooling=spec.pooling,
            num_layers=self.num_layers,
            batch_size=batch_size(spec.batch_size, spec.dtype),
            max_length=spec.max_length,
            token_budget=self.token_budget or DEFAULT_TOKEN_BUDGET,
            progress=self.progress,
            desc=f"{self.name} contrast features",
        )

    def __repr__(self) -> str:
        return f"HFModel({self.name!r}, loaded={bool(self._modules)})"


def from_path(path: str | Path, **kwargs: Any) -> HFModel:
    """An HFModel for a local HF-format directory (must contain config.json)."""
    directory = Path(path).expanduser().resolve()
    if not (directory / "config.json").is_file():
        raise ConfigError(
            f"{directory} is not a Hugging Face model directory (no config.json); "
            "pass a directory written by save_pretrained, a hub id, or a registered model name"
        )
    return HFModel(directory.name, directory, **kwargs)


def from_hub(name: str, allow_download: bool | None = None, **kwargs: Any) -> HFModel:
    """An HFModel for a hub id, resolved from the local HF cache (see module docstring)."""
    directory = resolve_hub(name, allow_download)
    model = HFModel(name.removeprefix("hf:"), directory, **kwargs)
    return model


@contextlib.contextmanager
def quiet_weight_loading() -> Iterator[None]:
    """Hide transformers' progress bars while loading a model (restored afterwards).

    The GGUF de-quantization bar is a plain tqdm that transformers' switch does
    not reach, so its module's ``tqdm`` is swapped for a disabled one meanwhile.
    """
    import functools

    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    gguf_tqdm = gguf_utils.tqdm
    gguf_utils.tqdm = functools.partial(gguf_tqdm, disable=True)
    try:
        yield
    finally:
        gguf_utils.tqdm = gguf_tqdm
        if was_enabled:
            hf_logging.enable_progress_bar()
