"""``sandwich plan``: every cell's stages, which are stored, and what the rest will cost.

Nothing runs and no weights load: the kinds list their stages with the keys
their own stage code builds (:meth:`ExperimentKind.stages`), the store says
which exist, and :mod:`sandwich.runs.cost` turns each missing stage's work into
FLOPs, seconds (at this machine's measured throughput) and memory. A stage
whose key is already taken by an earlier stage of the plan (a ceiling several
elicitors share, one supervisor's labels for every elicitor) is ``shared``:
it is computed once, and its cost counted once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sandwich.errors import ConfigError
from sandwich.runs.config import RunConfig
from sandwich.runs.context import RunContext
from sandwich.runs.cost import (
    Arch,
    Throughput,
    converted,
    forward_kernel,
    machine_throughput,
    memory_bytes,
    model_arch,
    work_flops,
    work_seconds,
)
from sandwich.runs.kinds import StagePlan, Work, kind_of
from sandwich.runs.plan import plan_cells
from sandwich.store import ArtifactStore

if TYPE_CHECKING:
    from sandwich.models.base import Model

State = Literal["stored", "missing", "shared", "runs"]

# converting an embedded GGUF model into the store (a cold store's first load), seconds per
# parameter: first load minus reload in BENCHMARKS.md "Model loading" (benchmarks/model_load.py):
# gemma3-270m 66.4 - 4.1 s for 268M parameters (smollm2-135m: 23.1 - 0.7 s for 135M)
CONVERT_SECONDS_PER_PARAM = (66.4 - 4.1) / 268e6


@dataclass
class StageRow:
    """One stage of one cell (``cell`` None: shared by the kind's cells) in the plan."""

    kind: str
    cell: int | None
    label: str
    stage: str
    state: State
    key: str | None
    note: str | None
    flops: float
    seconds: float | None
    memory: float


@dataclass
class Plan:
    """What ``sandwich plan`` prints: the rows, totals, and the rates it used."""

    config: str
    device: str
    n_cells: int
    rows: list[StageRow]
    throughput: dict[str, Any] | None
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds_to_plan: float = 0.0
    # model -> the kernel its missing feature forwards were costed at (dtype, "+packed")
    feature_kernels: dict[str, str] = field(default_factory=dict)

    @property
    def missing(self) -> list[StageRow]:
        return [r for r in self.rows if r.state in ("missing", "runs")]

    @property
    def total_flops(self) -> float:
        return sum(r.flops for r in self.missing)

    @property
    def total_seconds(self) -> float | None:
        secs = [r.seconds for r in self.missing]
        return None if any(s is None for s in secs) else sum(s for s in secs if s is not None)

    def cell_memory(self) -> dict[int, float]:
        """Peak memory per cell (its largest stage), by global cell index."""
        out: dict[int, float] = {}
        for r in self.rows:
            if r.cell is not None:
                out[r.cell] = max(out.get(r.cell, 0.0), r.memory)
        return out

    def counts(self) -> Counter[tuple[str, str, str]]:
        return Counter((r.kind, r.stage, r.state) for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config,
            "device": self.device,
            "n_cells": self.n_cells,
            "total_flops": self.total_flops,
            "total_seconds": self.total_seconds,
            "peak_memory": max((r.memory for r in self.rows), default=0.0),
            "throughput": self.throughput,
            "models": self.models,
            "seconds_to_plan": self.seconds_to_plan,
            "feature_kernels": self.feature_kernels,
            "rows": [asdict(r) for r in self.rows],
        }


class _Costs:
    """Costs of work items, with each model's shape read once."""

    def __init__(
        self, store: ArtifactStore, tp: Throughput | None, dtype: str,
        model: Callable[[str], Model] | None = None,
    ) -> None:  # fmt: skip
        self.store, self.tp, self.dtype, self.model = store, tp, dtype, model
        self.archs: dict[str, Arch | None] = {}
        self.loaded: set[str] = set()  # models loaded for inference (kept by the run)
        self.kernels: dict[tuple[str, str | None, bool], str] = {}
        self.features: dict[str, str] = {}  # model -> the kernel its feature forwards run on

    def arch(self, model: str | None) -> Arch | None:
        if model is None:
            return None
        if model not in self.archs:
            try:
                self.archs[model] = model_arch(model, self.store)
            except (ValueError, ConfigError):
                self.archs[model] = None
        return self.archs[model]

    def seconds(self, work: Work) -> float | None:
        if self.tp is None:
            return None
        arch = self.arch(work.model)
        if work.op != "load":
            kernel = self.kernel(work, arch)
            if kernel is not None and work.params.get("extract") and arch is not None:
                self.features[str(work.model)] = kernel  # a model whose forward is costed
            return work_seconds(work, arch, self.tp, kernel)
        if work.model is None:
            return 0.0
        if not work.params.get("fresh") and work.model in self.loaded:
            return 0.0  # inference keeps one copy per run
        self.loaded.add(work.model)
        secs = work_seconds(work, arch, self.tp)
        convert = f"convert:{work.model}"  # a cold store converts a GGUF model once
        if (
            arch is not None
            and convert not in self.loaded
            and converted(work.model, self.store) is False
        ):
            self.loaded.add(convert)
            secs = (secs or 0.0) + arch.params * CONVERT_SECONDS_PER_PARAM
        return secs

    def kernel(self, work: Work, arch: Arch | None) -> str | None:
        """The kernel a forward with a ``dtype`` runs on, as the run will pick it: a feature
        extraction's as its model says (:meth:`~sandwich.models.base.Model.feature_kernel`:
        ``auto`` resolved by this machine's precision measurement, linears packed where
        :mod:`sandwich.models.prepack` finds that faster, both read from, or measured once
        into, the store's ``machine/`` as the run would); any other forward in its dtype
        with torch's default linears."""
        dtype = work.params.get("dtype")
        if work.op != "forward" or dtype is None or self.tp is None or not self.tp.forward_rates:
            return None
        extract = bool(work.params.get("extract")) and self.model is not None
        key = (str(dtype), work.model if extract else None, extract)
        if key not in self.kernels:
            self.kernels[key] = self._resolve(str(dtype), work.model if extract else None, arch)
        return self.kernels[key]

    def _resolve(self, dtype: str, model: str | None, arch: Arch | None) -> str:
        if model is not None and self.model is not None and self.tp is not None:
            try:
                resolved, packed = self.model(model).feature_kernel(dtype)  # type: ignore[arg-type]
                return forward_kernel(resolved, packed and self.tp.device == "cpu")
            except (ValueError, ConfigError):  # not available here: as any other forward
                pass
        from sandwich.models.precision import resolve

        hidden = arch.hidden if arch is not None else None
        try:
            return resolve(dtype, hidden_size=hidden, store_root=self.store.root)
        except ValueError:  # a dtype features do not run in (a generator's float16)
            return dtype

    def memory(self, st: StagePlan) -> float:
        return float(max((memory_bytes(w, self.arch(w.model), self.dtype) for w in st.work),
                         default=0))  # fmt: skip

    def stage(self, st: StagePlan) -> tuple[float, float | None]:
        flops = sum(work_flops(w, self.arch(w.model)) for w in st.work)
        secs = [self.seconds(w) for w in st.work]
        total = None if any(s is None for s in secs) else sum(s for s in secs if s is not None)
        return flops, total


def make_plan(
    config: RunConfig,
    store: ArtifactStore | None = None,
    *,
    device: str = "cpu",
    refresh: bool = False,
    throughput: Throughput | None = None,
) -> Plan:
    """The plan of ``config`` against ``store`` (default ``$SANDWICH_HOME``).

    ``throughput``: rates to use instead of this machine's cached measurement
    (measured on first use; ``refresh`` measures again). On ``device="cuda"``
    without a GPU here no rate can be measured: seconds are unknown, FLOPs and
    memory are still given.
    """
    start = time.perf_counter()
    store = store or ArtifactStore()
    ctx = RunContext(config, store, progress=False)
    for i, task_cfg in enumerate(config.tasks):
        try:
            ctx.task(task_cfg)
        except ConfigError as exc:
            raise ConfigError(f"tasks.{i}: {exc}") from None
    tp = throughput or _throughput(store, device, refresh)
    costs = _Costs(store, tp, config.features.dtype, ctx.features.model)
    cells = plan_cells(config)
    rows: list[StageRow] = []
    seen: set[str] = set()
    offset = 0
    for name in config.kinds:
        kind_cells = [c for c in cells if c.kind == name]
        for st in kind_of(name).stages(ctx, kind_cells):
            cell = None if st.cell is None else offset + st.cell
            label = kind_cells[st.cell].label if st.cell is not None else _shared_label(st)
            rows.append(_row(name, cell, label, st, store, seen, costs))
        offset += len(kind_cells)
    models = {m: a.to_dict() for m, a in costs.archs.items() if a is not None}
    return Plan(config.name, device, len(cells), rows, tp.to_dict() if tp else None, models,
                round(time.perf_counter() - start, 3), costs.features)  # fmt: skip


def _throughput(store: ArtifactStore, device: str, refresh: bool) -> Throughput | None:
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return None
    return machine_throughput(store, device, refresh)


def _shared_label(st: StagePlan) -> str:
    return " ".join(w.model for w in st.work if w.model and w.op != "load") or st.stage


def _row(
    kind: str, cell: int | None, label: str, st: StagePlan, store: ArtifactStore,
    seen: set[str], costs: _Costs,
) -> StageRow:  # fmt: skip
    note = st.unknown
    h = st.key.hex if st.key is not None else None  # a digest: computed once per stage
    if h is None:
        state: State = "runs" if not st.cached else "missing"
        if not st.cached:
            note = "not cached: runs every time"
    elif h in seen:
        state, note = "shared", "computed by an earlier cell"
    elif store.path(st.key).exists():  # type: ignore[arg-type]
        state = "stored"
    else:
        state = "missing"
    if h is not None:
        seen.add(h)
    flops, secs = costs.stage(st) if state in ("missing", "runs") else (0.0, 0.0)
    return StageRow(kind, cell, label, st.stage, state, h, note,
                    flops, secs, costs.memory(st))  # fmt: skip
