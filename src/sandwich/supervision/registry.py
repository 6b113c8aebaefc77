"""The supervisor registry (gold, weak-model, nonexpert, human, protocol), listed lazily.

The adapters of other layers (the human study's labels, a protocol's judge)
are listed by ``"module:Object"`` string, so this module imports neither
feedback/ nor protocols/. Each class declares its ``Params``
(``sandwich supervisors --params NAME``).
"""

from __future__ import annotations

from sandwich.registry import Registry
from sandwich.supervision.base import Supervisor

SUPERVISORS: Registry[Supervisor] = Registry("supervisor")

_S = "sandwich.supervision"
SUPERVISORS.lazy("gold", f"{_S}.gold:GoldSupervisor",
                 "the gold labels (1.0 / 0.0); ceiling and oracle diagnostic")  # fmt: skip
SUPERVISORS.lazy("human", "sandwich.feedback.supervisor:HumanSupervisor",
                 "aggregated human labels from a study export or database")  # fmt: skip
SUPERVISORS.lazy("nonexpert", f"{_S}.nonexpert:NonExpertSupervisor",
                 "simulated non-expert: random or systematic errors")  # fmt: skip
SUPERVISORS.lazy("protocol", "sandwich.protocols.supervisor:ProtocolSupervisor",
                 "a protocol's judge (naive, debate, ...) as labeller")  # fmt: skip
SUPERVISORS.lazy("weak-model", f"{_S}.weak_model:WeakModelSupervisor",
                 "a weak model fit on A's gold: probe on its features, or fine-tuned")  # fmt: skip
