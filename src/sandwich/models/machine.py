"""What machine this is, and measurements taken once per machine and cached.

Some choices depend on the hardware and can only be made by measuring (is
bfloat16 faster than float32 here? how many FLOP/s does a forward pass reach?).
A measurement is taken once and kept as a small JSON file under
``<store root>/machine/``, keyed by a :func:`fingerprint` of everything that
changes the answer: the CPU model and its relevant instruction-set flags, the
torch version, torch's thread count and the device. Another machine sharing the
same store (or this one after a torch upgrade) gets its own entry, so a cached
answer is never applied where it was not measured.

``SANDWICH_REMEASURE=1`` (or a comma-separated list of measurement names)
ignores the cached entries and measures again (the new result replaces the old).
"""

from __future__ import annotations

import functools
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock

from sandwich.store import atomic_write_text
from sandwich.store.hashing import digest

# instruction-set flags that change which matmul kernels torch can use
RELEVANT_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_vnni")
REMEASURE_ENV = "SANDWICH_REMEASURE"
MACHINE_DIR = "machine"


@functools.cache
def cpu_info(path: Path = Path("/proc/cpuinfo")) -> tuple[str, frozenset[str]]:
    """(CPU model name, set of CPU flags); from /proc/cpuinfo on Linux, else ``platform``."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or platform.machine(), frozenset()
    name, flags = "", set[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not name:
            name = value.strip()
        elif key in ("flags", "Features") and not flags:  # x86 / arm
            flags = set(value.split())
    return name or platform.processor() or platform.machine(), frozenset(flags)


def device_name(device: str) -> str:
    """A readable name of ``device`` ("cpu", "cuda", "cuda:1", "mps")."""
    if device.startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            index = int(device.split(":", 1)[1]) if ":" in device else 0
            return str(torch.cuda.get_device_name(index))
        return "cuda (unavailable)"
    return device


def fingerprint(device: str = "cpu") -> dict[str, Any]:
    """Everything about this machine that changes a speed measurement on ``device``."""
    import torch

    model, flags = cpu_info()
    return {
        "cpu": model,
        "flags": {f: f in flags for f in RELEVANT_FLAGS},
        # what torch may use of them: ATen's vector ISA, and oneDNN's cap if one is set
        "capability": str(torch.backends.cpu.get_cpu_capability()),
        "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""),
        "torch": str(torch.__version__),
        "threads": int(torch.get_num_threads()),
        "device": device_name(device),
    }


def remeasure_requested(name: str) -> bool:
    """True when ``$SANDWICH_REMEASURE`` asks to measure ``name`` again (1/true/all or a list)."""
    value = os.environ.get(REMEASURE_ENV, "").strip().lower()
    if value in {"1", "true", "yes", "all"}:
        return True
    return name.lower() in {v.strip() for v in value.split(",") if v.strip()}


def measurement_path(store_root: Path, name: str, fp: dict[str, Any], version: int) -> Path:
    """Where the measurement ``name`` for machine ``fp`` is cached."""
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"measurement name {name!r}: use letters, digits, '-' and '_' only")
    key = digest({"name": name, "version": version, "machine": fp})[:16]
    return Path(store_root) / MACHINE_DIR / f"{name}-{key}.json"


def read_measurement(path: Path) -> dict[str, Any] | None:
    """The cached result at ``path``, or None if absent or unreadable (then measure again)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    result = record.get("result") if isinstance(record, dict) else None
    return result if isinstance(result, dict) else None


def cached_measurement(
    store_root: Path | str,
    name: str,
    fingerprint: dict[str, Any],
    measure_fn: Callable[[], dict[str, Any]],
    version: int,
    *,
    force: bool = False,
) -> dict[str, Any]:
    """``measure_fn()``'s result for this machine, measured at most once and cached.

    ``fingerprint`` is the machine's :func:`fingerprint` (plus anything else the
    measurement depends on, e.g. the shapes measured); ``version`` is bumped when
    the measurement itself changes. ``force`` (or ``$SANDWICH_REMEASURE``)
    measures again. A lock makes concurrent processes wait for one measurement
    rather than run several at once (which would also disturb each other's timings).
    """
    path = measurement_path(Path(store_root), name, fingerprint, version)
    again = force or remeasure_requested(name)
    if not again and (cached := read_measurement(path)) is not None:
        return cached
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.with_suffix(".lock"))):
        if not again and (cached := read_measurement(path)) is not None:
            return cached  # another process measured while we waited
        result = measure_fn()
        record = {
            "name": name,
            "version": version,
            "machine": fingerprint,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "result": result,
        }
        atomic_write_text(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return result


def best_times(fns: dict[str, Callable[[], Any]], rounds: int, budget: float) -> dict[str, float]:
    """Best wall time of each function over up to ``rounds`` interleaved rounds after a
    warm-up (at least two; no new round starts once ``budget`` seconds have passed), so
    a change in the machine's load hits every function alike."""
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, float("inf"))
    start = time.perf_counter()
    for i in range(rounds):
        if i >= 2 and time.perf_counter() - start > budget:
            break
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def numbers(measurement: dict[str, Any], keys: tuple[str, ...], what: str) -> list[float]:
    """``measurement[k]`` as floats for each of ``keys``; a ValueError naming ``what``
    and the keys if one is missing or not a number (a corrupt or foreign cache file)."""
    try:
        return [float(measurement[k]) for k in keys]
    except (KeyError, TypeError, ValueError) as exc:
        names = " and ".join(repr(k) for k in keys)
        raise ValueError(
            f"{what}: needs numeric {names}, got {measurement!r} (a damaged cache file under "
            f"<store>/{MACHINE_DIR}/ is replaced by measuring again: {REMEASURE_ENV}=1)"
        ) from exc
