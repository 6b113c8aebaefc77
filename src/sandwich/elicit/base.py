"""Elicitors: turn the strong model's features plus supervisor labels into predictions.

Estimator contract (as in scikit-learn): the hyperparameters are the class's
pydantic ``Params`` (validated into ``hparams`` by ``__init__``, which does
nothing else; see :class:`sandwich.registry.Configurable`);
``fit(X, y, random_state) -> self`` learns from features ``X`` (n, d) and soft
labels ``y`` in [0, 1]; learned state ends in ``_``;
``predict_proba(X)`` returns P(true), shape (n,).

Model selection / early stopping uses a held-out part of the ``y`` it is
given (the supervisor's labels of B), never gold labels.

Two kinds, told apart by the class attribute ``inputs``:

- ``Elicitor`` (``inputs = "features"``): learns from cached hidden states.
- ``TextElicitor`` (``inputs = "text"``): trains the model itself (fine-tuning)
  from the items' texts: ``fit_text(models, texts, y, ...)`` and
  ``predict_proba_text(texts)``.

A run asks every elicitor only what :class:`ElicitorBase` declares, never its kind:
``fit_cell`` / ``predict_cell`` (on :class:`CellInputs`), ``ceiling()``, ``chain_models()``,
``needs_gold``, ``needs_contrast``, ``supervision``, ``link_predictions_``, ``describe()``.

Reporters (``sandwich.elicit.reporters``) read *contrast-pair* features: each
item framed as true and as false (``sandwich.tasks.contrast``). An elicitor that
declares ``needs_contrast = True`` gets them from ``CellInputs.contrast_features``;
the run extracts them only for such elicitors. ``supervision`` says what the
elicitor learned from the supervisor: ``"labels"`` (the labels, like the probe),
``"sign"`` (only the sign of a direction found without labels) or ``"none"``; the
report marks the last two as zero-supervision rows.

Controls: an elicitor that adds one ingredient to a training procedure (an
auxiliary loss, say) declares its *control*, the same procedure without that
ingredient, by overriding :meth:`control_overrides`. A comparison of the two
on the same items and seeds then measures the ingredient alone; a comparison
with another elicitor would also measure every other difference (optimiser,
regularisation, early stopping). ``runs.config`` adds the control to a run
(or pairs it with a matching entry), and the report shows the paired
difference.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, Self

import numpy as np

from sandwich.elicit.registry import ELICITORS
from sandwich.registry import Configurable, spec_of

if TYPE_CHECKING:
    from sandwich.models import Model

Inputs = Literal["features", "text"]
Split = Literal["train_strong", "test"]
Supervision = Literal["labels", "sign", "none"]
# what a features-reading elicitor's fit does, for the planner's cost (ElicitorBase.solver)
Solver = Literal["probe", "logconf", "mass-mean", "crc", "ccs", "icm"]
ZERO_SUPERVISION = "zero_supervision"
"""The cell flag of an elicitor that learned no more than a sign from the supervisor."""


class CellInputs(Protocol):
    """A cell's data as an elicitor reads it: B (``train_strong``) to fit, T (``test``) to score.

    The run builds one per cell (``sandwich.runs.w2s.data.CellData``);
    ``features`` are the strong model's; ``contrast_features`` its features of
    each item framed as true and as false (read only by an elicitor that declares
    ``needs_contrast``); ``gold`` is read only by an elicitor that declares ``needs_gold``.
    """

    strong: str
    seed: int
    progress: bool

    def features(self, split: Split) -> np.ndarray: ...
    def contrast_features(self, split: Split) -> tuple[np.ndarray, np.ndarray]: ...
    def texts(self, split: Split) -> list[str]: ...
    def gold(self, split: Split) -> np.ndarray: ...
    def model(self, name: str) -> Model: ...


class ElicitorBase(Configurable, ABC):
    """What every elicitor declares, whatever its inputs (see the module docstring)."""

    inputs: ClassVar[Inputs]
    # reads CellInputs.contrast_features (the run extracts them only when some elicitor does)
    needs_contrast: ClassVar[bool] = False
    # what its fit does, for the planner's cost (runs.cost.reporter_work): "probe" (lbfgs
    # fits), "logconf" (trained epochs), "mass-mean", "crc" (an SVD), "ccs", "icm"
    solver: ClassVar[Solver] = "probe"
    # P(true) on T of each link of a bootstrapping chain, set by fitting (none by default)
    link_predictions_: Sequence[np.ndarray] = ()

    def control_overrides(self) -> dict[str, Any] | None:
        """The parameters that turn this elicitor into its control, or None if it has none.

        The control is the same registered elicitor built with
        ``{**params, **control_overrides()}``: everything but the ingredient
        under test stays the same. None (the default) means the elicitor is a
        baseline or already a control (e.g. ``probe-logconf`` with
        ``aux_weight=0``), so declaring controls can never chain.
        """
        return None

    @property
    def reads_features(self) -> bool:
        """False for an elicitor that reads only the items' texts (fine-tuning; ``icm`` with
        a prompted generator), so a kind that fits on one layer's features cannot run it."""
        return self.inputs == "features"

    @property
    def needs_gold(self) -> bool:
        """True if model selection reads gold labels of B (an oracle diagnostic)."""
        return False

    @property
    def supervision(self) -> Supervision:
        """What the elicitor learns from the labels it is given: ``"labels"`` (default),
        ``"sign"`` (only a direction's sign) or ``"none"``; see the module docstring."""
        return "labels"

    def chain_models(self) -> list[str]:
        """Names of intermediate models trained before the strong one (bootstrapping)."""
        return []

    def describe(self) -> str:
        """A short name for reports (the registered name by default)."""
        spec = spec_of(self)
        return spec.name if spec is not None else type(self).__name__

    @abstractmethod
    def ceiling(self) -> ElicitorBase:
        """The elicitor this one is compared with: trained the same way on B's gold labels."""

    @abstractmethod
    def fit_cell(self, data: CellInputs, y: np.ndarray, workdir: Path | None = None) -> Self:
        """Fit on B of ``data`` with labels ``y``; ``workdir`` may hold resumable checkpoints."""

    @abstractmethod
    def predict_cell(self, data: CellInputs) -> np.ndarray:
        """P(true) of T's items."""


class Elicitor(ElicitorBase):
    """An elicitor that learns from the strong model's cached features."""

    inputs: ClassVar[Inputs] = "features"

    @abstractmethod
    def fit(self, X: np.ndarray, y: np.ndarray, random_state: int = 0) -> Self: ...

    @abstractmethod
    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...

    def ceiling(self) -> ElicitorBase:
        """The logistic probe (default parameters): every feature elicitor's ceiling."""
        return ELICITORS.build("probe")

    def fit_cell(self, data: CellInputs, y: np.ndarray, workdir: Path | None = None) -> Self:
        return self.fit(data.features("train_strong"), y, random_state=data.seed)

    def predict_cell(self, data: CellInputs) -> np.ndarray:
        return self.predict_proba(data.features("test"))


class TextElicitor(ElicitorBase):
    """An elicitor that trains the model itself on the items' texts (fine-tuning).

    ``fit_text(models, texts, y, random_state, workdir, gold)``: ``models`` are
    the models to train in order (a bootstrapping chain ends with the strong
    model; usually just the strong model), ``y`` the supervisor's soft labels
    of ``texts``; ``workdir`` holds resumable checkpoints; ``gold`` is given
    only when :attr:`needs_gold` (oracle model selection, a diagnostic).
    ``report_texts``: texts on which every link of a chain is scored
    (``link_predictions_``), for the report. ``progress``: show a bar per training.
    """

    inputs: ClassVar[Inputs] = "text"

    @abstractmethod
    def fit_text(
        self,
        models: Sequence[Model],
        texts: Sequence[str],
        y: np.ndarray,
        *,
        random_state: int = 0,
        workdir: Path | None = None,
        gold: np.ndarray | None = None,
        report_texts: Sequence[str] | None = None,
        progress: bool = False,
    ) -> Self: ...

    @abstractmethod
    def predict_proba_text(self, texts: Sequence[str]) -> np.ndarray: ...

    @abstractmethod
    def ceiling_params(self) -> dict[str, Any]:
        """Params of the same elicitor as trained for the ceiling (on B's gold labels)."""

    def ceiling(self) -> ElicitorBase:
        """The same registered elicitor built with :meth:`ceiling_params`."""
        spec, params = spec_of(self), self.ceiling_params()
        return type(self)(**params) if spec is None else ELICITORS.build(spec.name, **params)

    def fit_cell(self, data: CellInputs, y: np.ndarray, workdir: Path | None = None) -> Self:
        chain = self.chain_models()
        return self.fit_text(
            [data.model(m) for m in [*chain, data.strong]],
            data.texts("train_strong"),
            y,
            random_state=data.seed,
            workdir=workdir,
            gold=data.gold("train_strong") if self.needs_gold else None,
            report_texts=data.texts("test") if chain else None,
            progress=data.progress,
        )

    def predict_cell(self, data: CellInputs) -> np.ndarray:
        return self.predict_proba_text(data.texts("test"))
