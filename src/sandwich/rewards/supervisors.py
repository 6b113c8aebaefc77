"""Supervisors of preferences: who says which of two completions is better.

Each gives ``P(a preferred)`` for every comparison of a split (B, to train the
reward model on; T, to measure the supervisor itself):

- ``gold``: the task's program (1, 0, or 0.5 on a gold tie). The ceiling's labels.
- ``weak-rm:<model>``: a weak reward model: a Bradley-Terry head on a weak
  model's frozen features of the completions, fit on A's gold preferences
  (the analogue of w2s's weak model, fit on A's gold labels).
- ``nonexpert``: a simulated non-expert that knows the easier prompts and sees
  only part of the gold program there. On a prompt of difficulty below
  ``knowledge`` it sees whether each completion's gold reaches ``threshold``
  (geo-prefs at 0.5: the right continent), not how far above: when the two are
  on different sides it prefers the better one (wrong with probability
  ``noise``), on the same side it guesses. On a harder prompt it guesses. Its
  errors are systematic (hard prompts, and every right-continent-but-wrong-
  country vs right-country pair, are coin flips), the harder case for a student.
- ``judge:<generator>``: a weak judge asked "which completion is better, 1 or
  2?" through :class:`~sandwich.models.generation.base.ChoiceRequest`, P(1) read
  from its log-probs, both orders averaged (position bias cancels).
- ``human:<study>``: raters' preferences from a pairwise study of the study
  app, aggregated per comparison (``params: {db: <the study database URL>}``).

What a supervisor may see is enforced by :class:`PrefQuestions`: the
completions and prompts without their gold; the gold preferences only when
the questions are built with ``reveal`` (A's, to fit a weak reward model; the
gold supervisor's own); the non-expert's coarse view through
:meth:`PrefQuestions.coarse_gold`. B's and T's gold never reach a weak
reward model or a judge (``tests/runs/reward/test_supervisors.py``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from sandwich.config import Strict
from sandwich.errors import SandwichError
from sandwich.supervision.nonexpert import item_uniforms

if TYPE_CHECKING:
    from sandwich.models.generation.base import Generator
    from sandwich.rewards.data import Comparison, RewardPrompt
    from sandwich.runs.reward.schema import PrefSupervisor

# (model name) -> (features of each comparison's a, of its b), rows in comparison order
FeatureLookup = Callable[[str], tuple[np.ndarray, np.ndarray]]


class NonexpertParams(Strict):
    """The simulated non-expert (``rewards.supervisors.NonexpertPreferences``)."""

    threshold: float = Field(
        0.5,
        description="it sees only whether a completion's gold reaches this (geo-prefs: the "
        "right continent), not how far above; completions on the same side are a guess",
    )
    knowledge: float = Field(
        0.6, ge=0.0, le=1.0, description="it knows prompts of difficulty below this; guesses above"
    )
    noise: float = Field(0.1, ge=0.0, le=1.0, description="chance of a flipped answer it knows")


class WeakRMParams(Strict):
    """A weak reward model: a Bradley-Terry head on a weak model's features, fit on A's gold."""

    l2: float = Field(1.0, gt=0, description="L2 penalty of the weak head's logistic fit")


class JudgeParams(Strict):
    """A weak judge asked which completion is better, both orders averaged."""

    batch_size: int = Field(16, ge=1, description="choice requests per generator call")


class HumanParams(Strict):
    """Raters' preferences from a pairwise study (``rewards.supervisors.HumanPreferences``)."""

    db: str = Field(description="the study database's URL (sqlite:///... or postgresql://...)")
    method: str = Field("dawid-skene", description="how a pair's labels are aggregated")
    missing: float | None = Field(
        None, ge=0.0, le=1.0, description="P(a) of a comparison nobody judged (null: an error)"
    )


class GoldHidden(SandwichError):
    """A supervisor asked for gold preferences it may not see (B's or T's)."""


@dataclass(frozen=True)
class PrefQuestions:
    """One split's comparisons as a supervisor sees them: who is compared and the texts,
    the prompts' difficulties and the completions' features; gold only with ``reveal``."""

    prompt_ids: tuple[str, ...]
    a: tuple[int, ...]
    b: tuple[int, ...]
    prompts: tuple[str, ...]
    texts_a: tuple[str, ...]
    texts_b: tuple[str, ...]
    difficulty: np.ndarray
    features: FeatureLookup | None = None
    reveal: bool = False
    _gold: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    _gold_a: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    _gold_b: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    @classmethod
    def build(
        cls,
        comparisons: Sequence[Comparison],
        prompts: Mapping[str, RewardPrompt],
        features: FeatureLookup | None = None,
        reveal: bool = False,
    ) -> PrefQuestions:
        """The questions of ``comparisons`` (prompts by id); gold kept out of sight."""

        def gold_of(pid: str, i: int) -> float:
            g = prompts[pid].completions[i].gold
            return math.nan if g is None else float(g)

        return cls(
            prompt_ids=tuple(c.prompt_id for c in comparisons),
            a=tuple(c.a for c in comparisons),
            b=tuple(c.b for c in comparisons),
            prompts=tuple(prompts[c.prompt_id].prompt for c in comparisons),
            texts_a=tuple(prompts[c.prompt_id].completions[c.a].text for c in comparisons),
            texts_b=tuple(prompts[c.prompt_id].completions[c.b].text for c in comparisons),
            difficulty=np.array([prompts[c.prompt_id].difficulty for c in comparisons], float),
            features=features,
            reveal=reveal,
            _gold=np.array([c.gold for c in comparisons], dtype=np.float64),
            _gold_a=np.array([gold_of(c.prompt_id, c.a) for c in comparisons]),
            _gold_b=np.array([gold_of(c.prompt_id, c.b) for c in comparisons]),
        )

    def __len__(self) -> int:
        return len(self.prompt_ids)

    def gold(self) -> np.ndarray:
        """Gold P(a preferred): only for questions built with ``reveal`` (A's; the gold
        supervisor's)."""
        if not self.reveal:
            raise GoldHidden("these comparisons' gold preferences are hidden from supervisors")
        return self._gold.copy()

    def coarse_gold(self, threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """The non-expert's view: whether each side's gold reaches ``threshold`` (1/0)."""
        return (self._gold_a >= threshold).astype(float), (self._gold_b >= threshold).astype(float)

    def feats(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        if self.features is None:
            raise SandwichError("no features were given with these comparisons")
        return self.features(model)

    def uniforms(self, salt: str, seed: int) -> np.ndarray:
        """(n, 3) uniforms fixed by (salt, seed, the comparison): order-independent."""
        keys = zip(self.prompt_ids, self.a, self.b, strict=True)
        return np.array([item_uniforms(salt, seed, f"{p}|{a}|{b}") for p, a, b in keys])


class PreferenceSupervisor(ABC):
    """Gives P(a preferred) per comparison; ``fit`` sees A's questions (gold revealed)."""

    name: str = ""
    reads_gold: bool = False  # True: labels with the gold program (gets revealed questions)
    # False: its preferences are 0 or 1 only (a Bradley-Terry fit on them reads half the rows
    # and converges sooner: ``sandwich plan`` costs it so); True: any value in [0, 1]
    soft_labels: bool = True

    def feature_models(self) -> list[str]:
        """Models whose features of the completions it reads."""
        return []

    def fit(self, train: PrefQuestions, seed: int) -> None:  # noqa: B027 (optional)
        """Learn from A's comparisons (gold revealed); most supervisors learn nothing."""

    @abstractmethod
    def prefs(self, questions: PrefQuestions, seed: int) -> np.ndarray:
        """P(a preferred) per comparison of ``questions``."""

    def spec(self) -> dict[str, Any]:
        """What determines its answers (part of the preference stage's store key)."""
        return {"name": self.name}


class GoldPreferences(PreferenceSupervisor):
    """The expert: the gold program's preference (0.5 on a gold tie)."""

    name = "gold"
    reads_gold = True

    def prefs(self, questions: PrefQuestions, seed: int) -> np.ndarray:
        return questions.gold()


class WeakRMPreferences(PreferenceSupervisor):
    """A Bradley-Terry head on ``model``'s features, fit on A's gold preferences."""

    name = "weak-rm"

    def __init__(self, model: str, l2: float = 1.0) -> None:
        self.model, self.l2 = model, l2
        self._head: Any = None

    def feature_models(self) -> list[str]:
        return [self.model]

    def fit(self, train: PrefQuestions, seed: int) -> None:
        from sandwich.rewards.bradley_terry import BradleyTerryHead

        fa, fb = train.feats(self.model)
        self._head = BradleyTerryHead(l2=self.l2, random_state=seed).fit(fa, fb, train.gold())

    def prefs(self, questions: PrefQuestions, seed: int) -> np.ndarray:
        if self._head is None:
            raise SandwichError(f"weak-rm:{self.model} must be fit on A before it labels")
        fa, fb = questions.feats(self.model)
        return np.asarray(self._head.prob(fa, fb), dtype=np.float64)

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "l2": self.l2}


class NonexpertPreferences(PreferenceSupervisor):
    """Knows prompts easier than ``knowledge``; there sees only whether gold reaches
    ``threshold`` and errs with ``noise``; guesses everywhere else (module docstring)."""

    name = "nonexpert"
    soft_labels = False  # a right answer or a guess, 0 or 1

    def __init__(self, threshold: float = 0.5, knowledge: float = 0.6, noise: float = 0.1) -> None:
        self.threshold, self.knowledge, self.noise = threshold, knowledge, noise

    def prefs(self, questions: PrefQuestions, seed: int) -> np.ndarray:
        ga, gb = questions.coarse_gold(self.threshold)
        u = questions.uniforms("nonexpert-prefs", seed)
        sees = (ga != gb) & (questions.difficulty < self.knowledge)
        right = (ga > gb).astype(float)
        answer = np.where(u[:, 0] < self.noise, 1.0 - right, right)
        guess = (u[:, 1] < 0.5).astype(float)
        return np.where(sees, answer, guess)

    def spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "threshold": self.threshold,
            "knowledge": self.knowledge,
            "noise": self.noise,
        }


JUDGE_PROMPT = (
    "Which completion of the text is better: the more correct continuation?\n\n"
    "Text: {prompt}\n\nCompletion 1: {first}\nCompletion 2: {second}\n\n"
    "Answer with 1 or 2."
)


class JudgePreferences(PreferenceSupervisor):
    """A weak judge through ChoiceRequest: P("1") against P("2"), both orders averaged.
    A comparison the backend cannot score in either order gets 0.5."""

    name = "judge"

    def __init__(self, generator: Generator, batch_size: int = 16) -> None:
        self.generator, self.batch_size = generator, batch_size

    def _p_first(
        self, prompts: Sequence[str], first: Sequence[str], second: Sequence[str]
    ) -> np.ndarray:
        from sandwich.models.generation.base import ChoiceRequest, Message

        requests = [
            ChoiceRequest(
                (
                    Message(
                        "user", JUDGE_PROMPT.format(prompt=p, first=x.strip(), second=y.strip())
                    ),
                ),
                ("1", "2"),
            )
            for p, x, y in zip(prompts, first, second, strict=True)
        ]
        out = np.full(len(requests), np.nan)
        for start in range(0, len(requests), self.batch_size):
            chunk = requests[start : start + self.batch_size]
            for j, scores in enumerate(self.generator.score_choices(chunk)):
                if scores is not None:
                    one, two = scores["1"], scores["2"]
                    out[start + j] = 1.0 / (1.0 + math.exp(two - one))
        return out

    def prefs(self, questions: PrefQuestions, seed: int) -> np.ndarray:
        ab = self._p_first(questions.prompts, questions.texts_a, questions.texts_b)
        ba = 1.0 - self._p_first(questions.prompts, questions.texts_b, questions.texts_a)
        stack = np.stack([ab, ba])
        seen = (~np.isnan(stack)).sum(axis=0)
        total = np.nansum(stack, axis=0)
        return np.where(seen > 0, total / np.maximum(seen, 1), 0.5)

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "generator": self.generator.describe(), "prompt": JUDGE_PROMPT}


class HumanPreferences(PreferenceSupervisor):
    """Raters' preferences from a pairwise study (docs/rewards.md, "Human preferences"):
    each comparison's P(a preferred) aggregated over its raters
    (``feedback.analysis.pair_preferences``). The study must hold B's and T's
    comparisons (``feedback.pairs.pairs_from_comparisons``); one nobody judged fails
    naming it, unless ``missing`` is set. The labels' content is part of the store key,
    so new labels give new preferences."""

    name = "human"

    def __init__(self, db: str, study: str, method: str = "dawid-skene",
                 missing: float | None = None) -> None:  # fmt: skip
        self.db, self.study, self.method, self.missing = db, study, method, missing
        self._prefs: list[Any] | None = None

    def _read(self) -> list[Any]:
        if self._prefs is None:
            from sandwich.feedback.analysis.pair_preferences import study_pair_preferences

            self._prefs = list(study_pair_preferences(self.db, self.study, self.method))
        return self._prefs

    def prefs(self, questions: PrefQuestions, seed: int) -> np.ndarray:
        from sandwich.feedback.analysis.pair_preferences import comparison_preferences
        from sandwich.rewards.data import Comparison

        keys = zip(questions.prompt_ids, questions.a, questions.b, strict=True)
        comps = [Comparison(p, a, b, 0.5) for p, a, b in keys]
        return np.asarray(comparison_preferences(comps, self._read(), self.missing), float)

    def spec(self) -> dict[str, Any]:
        from sandwich.store.hashing import digest

        labels = sorted((str(p.prompt_id), p.a, p.b, round(float(p.p_a), 9)) for p in self._read())
        return {"name": self.name, "study": self.study, "method": self.method,
                "missing": self.missing, "labels": digest(labels)}  # fmt: skip


def build_pref_supervisor(
    cfg: PrefSupervisor, generators: Mapping[str, Generator] | None = None
) -> PreferenceSupervisor:
    """The supervisor a config entry names (its params validated by the schema).
    ``generators``: a judge's generator by its display name instead of the spec's."""
    if cfg.name == "gold":
        return GoldPreferences()
    if cfg.name == "nonexpert":
        p = NonexpertParams.model_validate(cfg.params)
        return NonexpertPreferences(threshold=p.threshold, knowledge=p.knowledge, noise=p.noise)
    if cfg.name == "weak-rm" and cfg.model is not None:
        return WeakRMPreferences(cfg.model, l2=WeakRMParams.model_validate(cfg.params).l2)
    if cfg.name == "judge" and cfg.generator is not None:
        given = (generators or {}).get(cfg.display)
        if given is None:
            from sandwich.protocols.generators import build_generator

            given = build_generator(cfg.generator)
        return JudgePreferences(given, JudgeParams.model_validate(cfg.params).batch_size)
    if cfg.name == "human" and cfg.study is not None:
        h = HumanParams.model_validate(cfg.params)
        return HumanPreferences(h.db, cfg.study, h.method, h.missing)
    raise SandwichError(f"supervisor {cfg.display!r}: not available in this build")
