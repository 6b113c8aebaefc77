"""``human``: the aggregated labels of human raters from a study.

Reads a labels file written by ``sandwich study export`` (``path``, CSV or
JSONL) or the study's database directly (``db`` URL + ``study`` name),
keeps one assistance ``condition`` (needed when the study has several),
aggregates the labels per item with a method of
:data:`sandwich.feedback.analysis.label_aggregation.AGGREGATORS` (``dawid-skene`` by default)
and returns that P(true). Training labels never count; gold check items count
like any other item.

Labels the study marked ``excluded`` (a rater who failed the attention
checks, an answer after an enforced time limit) and attention-check answers
are left out before aggregating; how many and why is logged and kept in
``exclusions_`` (never silently).

It learns nothing from A's gold (raters were not trained on it). Items no
rater labelled have no P(true): ``predict_proba`` fails naming them, since a
guess would silently bias PGR. :meth:`HumanSupervisor.data_fingerprint` is a
hash of the labels read, so the run's cache of this supervisor's labels is
recomputed when new labels arrive.

The adapter lives with the study app it reads from; the analysis and storage
modules are imported when labels are read, not when this module is, so
registering the supervisor loads no pandas, crowd-kit or SQLAlchemy.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Self

import numpy as np
from pydantic import ConfigDict, Field, model_validator

from sandwich.config import Strict
from sandwich.errors import ConfigError
from sandwich.supervision.base import FeatureSource, Supervisor
from sandwich.tasks.item import Item

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


class HumanSupervisor(Supervisor):
    """P(true) per item aggregated from human raters' labels (module docstring)."""

    class Params(Strict):
        model_config = ConfigDict(json_schema_extra={"examples": [{"path": "labels.csv"}]})

        path: str | None = Field(None, description="a labels file from `sandwich study export`")
        db: str | None = Field(None, description="or the study database's URL (with study)")
        study: str | None = Field(None, description="the study's name (with db)")
        condition: str | None = Field(
            None, description="the assistance condition kept (needed if the study has several)"
        )
        method: str = Field(
            "dawid-skene",
            description="aggregation (sandwich.feedback.analysis.label_aggregation.AGGREGATORS)",
        )

        @model_validator(mode="after")
        def _check(self) -> Self:
            from sandwich.feedback.analysis.label_aggregation import AGGREGATORS

            if (self.path is None) == (self.db is None):
                raise ValueError("path: give exactly one of path (an exported labels file) or db")
            if self.db is not None and not self.study:
                raise ValueError("study: db needs study (the study's name)")
            if self.path is not None and self.study is not None:
                raise ValueError("study: goes with db; an exported file holds one study")
            if self.method not in AGGREGATORS:
                raise ValueError(f"method: {AGGREGATORS.unknown_message(self.method)}")
            if self.path is not None and not Path(self.path).is_file():
                raise ValueError(
                    f"path: labels file {self.path} does not exist "
                    "(write one with `sandwich study export <study> --out <file>`)"
                )
            return self

    hparams: Params
    _fingerprinted: pd.DataFrame | None = None

    @property
    def source(self) -> str:
        return (
            self.hparams.path
            if self.hparams.path is not None
            else f"study {self.hparams.study!r} in {self.hparams.db}"
        )

    def labels(self) -> pd.DataFrame:
        """The labels that count (training, excluded and attention-check labels left
        out; the exclusions are logged and kept in ``exclusions_``), all conditions."""
        from sandwich.feedback.analysis.exclusions import apply_exclusions

        frame, report = apply_exclusions(self._read_labels())
        self.exclusions_ = report
        for line in report.lines():
            log.warning("human: %s: %s", self.source, line)
        if frame.empty:
            raise ConfigError(f"human: no labels left after exclusions in {self.source}")
        return frame

    def _read_labels(self) -> pd.DataFrame:
        """The labels read (training labels left out), all conditions."""
        from sandwich.feedback.analysis.label_frame import as_label_frame, read_labels

        if self.hparams.path is not None:
            return read_labels(self.hparams.path)
        from sandwich.feedback.analysis.study_status import labels_frame
        from sandwich.feedback.store.db import make_engine, session_factory
        from sandwich.feedback.store.studies import get_study

        engine = make_engine(self.hparams.db)
        try:
            with session_factory(engine)() as s:
                frame = labels_frame(
                    s, get_study(s, str(self.hparams.study)), include_training=False
                )
        finally:
            engine.dispose()
        if frame.empty:
            raise ConfigError(f"human: no labels yet in {self.source}")
        return as_label_frame(frame, source=self.source)

    def data_fingerprint(self) -> str:
        """A hash of the labels this supervisor would aggregate (for the run's cache key)."""
        frame = self._fingerprinted = self.labels()
        cols = ["item_id", "rater_id", "condition", "answer", "confidence", "is_gold"]
        text = frame[cols].sort_values(["item_id", "rater_id"]).to_csv(index=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def fit(self, items: Sequence[Item], features: FeatureSource, random_state: int) -> Self:
        from sandwich.feedback.analysis.label_aggregation import aggregate

        # the labels data_fingerprint hashed, if it ran: one read, and the fit
        # matches the cache key even if a label arrived in between
        frame, self._fingerprinted = self._fingerprinted, None
        if frame is None:
            frame = self.labels()
        conditions = sorted(frame["condition"].unique())
        if self.hparams.condition is None and len(conditions) > 1:
            raise ConfigError(
                f"human: {self.source} has labels in several conditions ({', '.join(conditions)}): "
                "choose one with params.condition"
            )
        agg = aggregate(
            frame, self.hparams.method, condition=self.hparams.condition, source=self.source
        )
        self.p_true_ = agg.p_true
        self.reliability_ = agg.reliability
        return self

    def predict_proba(self, items: Sequence[Item], features: FeatureSource) -> np.ndarray:
        if not hasattr(self, "p_true_"):
            raise RuntimeError("HumanSupervisor.predict_proba called before fit")
        ids = [it.id for it in items]
        missing = [i for i in ids if i not in self.p_true_.index]
        if missing:
            where = f" in condition {self.hparams.condition!r}" if self.hparams.condition else ""
            raise ConfigError(
                f"human: {len(missing)} of {len(ids)} items have no label{where} in {self.source}, "
                f"e.g. {', '.join(missing[:3])}. Every item the supervisor labels (splits B and T) "
                "needs human labels: extend the study to them, or run on a task of labelled items."
            )
        return self.p_true_.reindex(ids).to_numpy(dtype=np.float64)
