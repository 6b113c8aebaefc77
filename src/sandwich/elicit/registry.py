"""The elicitor registry (probe, probe-logconf, finetune, and the reporters mass-mean, ccs,
crc, icm), listed lazily by module.

Each entry's class declares its ``Params`` (``sandwich elicitors --params NAME``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandwich.registry import Registry

if TYPE_CHECKING:
    from sandwich.elicit.base import Elicitor, TextElicitor

ELICITORS: Registry[Elicitor | TextElicitor] = Registry("elicitor")

ELICITORS.lazy("finetune", "sandwich.elicit.finetune.elicitor:FineTuneElicitor",
               "fine-tune the strong model with a zero-init head (Burns et al. 2023)")  # fmt: skip
ELICITORS.lazy("probe", "sandwich.elicit.probe:LogisticProbe",
               "logistic probe on soft labels (naive weak-to-strong)")  # fmt: skip
ELICITORS.lazy("probe-logconf", "sandwich.elicit.logconf:LogConfProbe",
               "linear probe with the auxiliary confidence loss (Burns et al. 2023)")  # fmt: skip
ELICITORS.lazy("mass-mean", "sandwich.elicit.reporters.mass_mean:MassMeanProbe",
               "difference of class means of the labels, optionally covariance-corrected "
               "(Marks & Tegmark 2023)")  # fmt: skip
ELICITORS.lazy("ccs", "sandwich.elicit.reporters.ccs:CCSReporter",
               "contrast-consistent search on contrast pairs, no labels; sign by a rule "
               "(Burns et al. 2022)")  # fmt: skip
ELICITORS.lazy("crc", "sandwich.elicit.reporters.crc:CRCReporter",
               "top principal direction of contrast-pair differences, closed form, no labels; "
               "sign by a rule")  # fmt: skip
ELICITORS.lazy("icm", "sandwich.elicit.reporters.icm:ICMReporter",
               "labels of B's contrast claims by internal coherence maximisation (probe-based "
               "mutual predictability), no labels; sign by a rule (Wen et al. 2025)")  # fmt: skip
