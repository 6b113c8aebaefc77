"""The per-step record of an RL or DPO run against a proxy reward, and its JSONL log.

One :class:`RLStep` per optimizer step (RL) or evaluation (DPO): the KL of the
policy that produced the step's samples to the initial policy, and the proxy
and gold reward means over those same samples, which is what an
over-optimisation curve (gold and proxy against sqrt(KL), Gao et al. 2022)
plots.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RLStep:
    """One step of optimisation against the proxy.

    ``kl``: KL(policy || initial policy) in nats per completion (summed over its
    tokens), estimated on the step's own samples, 0 at the initial policy: GRPO and
    DPO use the non-negative k3 estimator (``exp(d) - d - 1`` per token, d = log ref
    - log policy); RLOO uses TRL's own there, the log-ratio k1 (``-d``; unbiased,
    can be slightly < 0; also in ``kl_logratio``). ``proxy`` / ``gold``: mean
    rewards of those samples.
    """

    step: int
    kl: float
    proxy: float
    gold: float
    kl_per_token: float = 0.0  # kl / mean completion length (TRL's logged ``kl``)
    proxy_std: float = 0.0
    gold_std: float = 0.0
    completion_length: float = 0.0  # mean tokens per completion
    n_samples: int = 0  # completions the means are over
    loss: float | None = None  # the trainer's loss at this step (None at DPO's step 0)
    kl_logratio: float | None = None  # DPO, RLOO: mean sequence log-ratio (k1), can be < 0
    seconds: float = 0.0  # wall time since the run started

    @property
    def sqrt_kl(self) -> float:
        return math.sqrt(max(self.kl, 0.0))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_steps(path: Path, steps: Sequence[RLStep]) -> Path:
    """``steps`` as JSON lines (one per step) at ``path``; parents are created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(s.to_dict()) + "\n" for s in steps))
    return path


def read_steps(path: Path) -> list[RLStep]:
    """The steps :func:`write_steps` wrote; a bad line raises ValueError naming ``path:line``."""
    names = {f.name for f in fields(RLStep)}
    out = []
    for n, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out.append(RLStep(**{k: v for k, v in row.items() if k in names}))
        except (json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: not an RL step record ({exc})") from None
    return out
