"""Internal coherence maximisation (``icm``, Wen et al. 2025): on the strong model's features, or
in context through a generation model.

ICM searches, without labels, for the labelling of a set of claims that is most
*mutually predictable* (each label is predictable from all the others) and
*logically consistent*, by simulated annealing on

    U(D) = alpha * MP(D) - I(D)

where MP is the (mean) log-probability of every labelled claim's label given the
other labelled claims, and I the number of violated constraints. The reference
computes P(y_i | others) by in-context prompting of a large model with the other
labelled claims as demonstrations. Here, on CPU with small models, it is a
linear probe on the strong model's cached features instead:

- **Claims and the constraint.** Each item of B gives two claims, its contrast
  halves (``pos``: the statement framed as true, ``neg``: as false;
  :mod:`sandwich.tasks.contrast`), normalised per half like ``ccs``/``crc``
  (:class:`~.contrast.PairNormaliser`). Exactly one framing is right, so the two
  claims of an item must get opposite labels: the constraint every task has by
  construction. (The reference's other constraints, such as "two different
  answers to one question cannot both be right", need a relation between items
  that the built-in tasks' ``group`` does not encode uniformly, so they are not
  used.)
- **Mutual predictability** (``predictor: probe``): P(y_i | others) from a ridge
  probe (on the +-1 labels, with an intercept) fit on every other labelled
  claim, in closed form: with ``M = (K_SS + ridge I)^-1`` over the labelled set S
  (``K`` the linear kernel of the claims), the leave-one-out prediction of claim
  i is ``f_i = t_i - (M t)_i / M_ii``. The scores become probabilities through a
  logistic link ``sigmoid(c f)`` whose scale ``c >= 0`` is fit to the same
  labels (so a labelling no probe can predict scores log 1/2 per claim, never
  less). MP is the mean over labelled claims (the reference code averages too,
  so ``alpha`` keeps its weight as the set grows).
- **Search**, as in the reference code: ``initial`` claims (K = 8) get random
  labels, half of each; each iteration samples a claim (an unlabelled claim whose
  partner is labelled 100 times as likely as any other), proposes the label the
  probe predicts for it from the other labelled claims, repairs an inconsistency
  with its partner by taking the better of the two consistent assignments of the
  pair (by U), and accepts the proposal if U rises, or else with probability
  ``exp(dU / T)``, ``T = max(t_min, t0 / (1 + 2 log(1 + accepted)))``
  (the reference's "log" schedule: 10 -> 0.01, counted in accepted changes).
- **Capped sizes.** The search runs on at most ``max_items`` items of B (a
  seeded random subset; 2 claims each), for ``iterations`` proposals (the
  reference: 256 claims, 3000 iterations).
- **The reporter.** The probe fit on all the claims ICM labelled (both halves
  of each item) scores any item: P(true) = (P(pos right) + 1 - P(neg right)) / 2.

Nothing in U prefers one end of a direction: flipping every label leaves MP and
I unchanged (the reference's language model breaks the tie with its prior; a
probe on features has none). The sign is therefore fixed by the same declared
rule as ``ccs`` and ``crc`` (:mod:`.contrast`): the weak labels of B by default,
B's gold with ``sign: oracle`` (flagged). Deterministic per ``random_state``.

``predictor: in-context`` is the reference's predictor: the claims are B's item
texts (one claim per item, no constraint), P(y_i | others) comes from a
generation model prompted with the other labelled claims as demonstrations,
and T is scored by many-shot prompting with ICM's labels
(:mod:`.icm_context`). The annealing below is the same code for both: it sees
the predictor only through :class:`Predictor`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, Self

import numpy as np
from pydantic import Field, field_validator, model_validator
from scipy.special import expit, log_expit
from tqdm.auto import tqdm

from sandwich.elicit.base import CellInputs, Solver
from sandwich.elicit.reporters.contrast import ContrastReporter, agreement, sign_from

if TYPE_CHECKING:
    from sandwich.elicit.reporters.icm_context import InContextPredictor

PRIORITY = 100.0
"""Sampling weight of an unlabelled claim whose partner is labelled (the reference's)."""


def held_out_scores(M: np.ndarray, t: np.ndarray, mate: np.ndarray) -> np.ndarray:
    """Each labelled claim's ridge prediction from the others, its partner left out too.

    ``M = (K + ridge I)^-1`` over the labelled claims, ``t`` their +-1 labels,
    ``mate[i]`` the position of claim i's partner among them (-1: not labelled).
    Closed form: with ``a = M t``, the residual of a left-out group G is
    ``M_GG^-1 a_G`` (one claim: ``a_i / M_ii``; a pair: a 2 x 2 solve). The
    partner is left out with the claim because it is the same statement with the
    opposite label: a probe would read its label off the shared statement.
    """
    a = M @ t
    d = np.diag(M)
    resid = a / d
    i = np.flatnonzero(mate >= 0)
    j = mate[i]
    if len(i):
        off = M[i, j]
        det = d[i] * d[j] - off * off
        resid[i] = (d[j] * a[i] - off * a[j]) / det
    f: np.ndarray = t - resid
    return f


def mates(idx: np.ndarray, partner: np.ndarray) -> np.ndarray:
    """For the labelled claims ``idx`` (sorted), the position of each one's partner among
    them, or -1 if the partner is not labelled."""
    where = np.full(len(partner), -1)
    where[idx] = np.arange(len(idx))
    out: np.ndarray = where[partner[idx]]
    return out


def link_scale(f: np.ndarray, t: np.ndarray, iters: int = 20) -> float:
    """The ``c >= 0`` maximising ``sum log sigmoid(c t f)`` (Newton's method from 0; 0 when
    the scores do not point the labels' way on average)."""
    m = t * f
    if m.sum() <= 0:
        return 0.0
    c = 0.0
    for _ in range(iters):
        p = expit(-c * m)  # d/dc log sigmoid(c m) = m * sigmoid(-c m)
        grad = float(m @ p)
        hess = float((m * m) @ (p * (1.0 - p)))
        if hess <= 1e-12:
            break
        step = grad / hess
        c = max(c + step, 0.0)
        if abs(step) < 1e-6 * max(c, 1.0):
            break
    return c


def mutual_predictability(M: np.ndarray, t: np.ndarray, mate: np.ndarray) -> float:
    """Mean held-out log P(label) of the labelled claims under the calibrated link."""
    f = held_out_scores(M, t, mate)
    c = link_scale(f, t)
    return float(np.mean(log_expit(c * t * f)))


def temperature(accepted: int, t0: float, t_min: float) -> float:
    """The reference's "log" schedule, counted in accepted changes."""
    return max(t_min, t0 / (1.0 + 2.0 * np.log1p(accepted)))


class Predictor(Protocol):
    """What the annealing asks of a predictor of labels (claims are numbered 0..n-1;
    ``labels[k]`` is 1 true, 0 false, -1 unlabelled)."""

    def score(self, k: int, labels: np.ndarray) -> float:
        """Log-odds that claim ``k`` is true given the other labelled claims."""
        ...

    def mutual_predictability(self, labels: np.ndarray) -> float:
        """Mean log P(label | the other labelled claims) over the labelled claims."""
        ...


class ProbePredictor:
    """``predictor: probe``: a held-out ridge probe on the claims' kernel ``K``; a claim
    is predicted with its ``partner`` (the same statement, opposite framing) left out."""

    def __init__(self, K: np.ndarray, partner: np.ndarray, ridge: float) -> None:
        self.K, self.partner, self.ridge = K, partner, ridge
        self._inverses: dict[bytes, np.ndarray] = {}

    def inverse(self, idx: np.ndarray) -> np.ndarray:
        """``(K_SS + ridge I)^-1`` over the labelled set ``idx`` (the last few kept)."""
        key = idx.tobytes()
        if key not in self._inverses:
            if len(self._inverses) > 4:
                self._inverses.clear()
            K = self.K[np.ix_(idx, idx)]
            self._inverses[key] = np.linalg.inv(K + self.ridge * np.eye(len(idx)))
        return self._inverses[key]

    def mutual_predictability(self, labels: np.ndarray) -> float:
        idx = np.flatnonzero(labels >= 0)
        t = 2.0 * labels[idx] - 1.0
        return mutual_predictability(self.inverse(idx), t, mates(idx, self.partner))

    def score(self, k: int, labels: np.ndarray) -> float:
        known = labels >= 0
        idx = np.flatnonzero(known)
        t = 2.0 * labels[idx] - 1.0
        M = self.inverse(idx)
        partner = self.partner
        if known[k]:  # its prediction from the others (its partner left out)
            at = int(np.searchsorted(idx, k))
            return float(held_out_scores(M, t, mates(idx, partner))[at])
        a = M @ t  # the probe on the labelled claims but its partner (a downdate of M)
        if known[partner[k]]:
            q = int(np.searchsorted(idx, partner[k]))
            a = a - M[:, q] * (a[q] / M[q, q])
            a[q] = 0.0
        return float(self.K[k, idx] @ a)


@dataclass
class Search:
    """What the annealing found: the labels (-1: unlabelled), the final U, the number of
    accepted changes and U after each."""

    labels: np.ndarray
    energy: float
    accepted: int
    trace: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Schedule:
    """The annealing's settings (the reporter's params of the same names)."""

    alpha: float
    iterations: int
    initial: int
    t0: float
    t_min: float


def inconsistencies(labels: np.ndarray, partner: np.ndarray) -> int:
    """Pairs (claim, partner) that are both labelled and got the same label (-1: no partner)."""
    has = partner >= 0
    both = (labels >= 0) & has & (labels[partner] >= 0)
    return int(np.sum(both & (labels == labels[partner]))) // 2


def anneal(
    predictor: Predictor,
    partner: np.ndarray,
    schedule: Schedule,
    rng: np.random.Generator,
    progress: bool = False,
) -> Search:
    """Simulated annealing over the labels of the claims (``partner[k]``: the claim that must
    get the opposite label, -1 for none), as in the reference code (module docstring)."""
    n_claims = len(partner)
    has = partner >= 0
    labels = np.full(n_claims, -1)
    seed_labels = np.array([1, 0] * (schedule.initial // 2) + [1] * (schedule.initial % 2))
    labels[rng.choice(n_claims, schedule.initial, replace=False)] = rng.permutation(seed_labels)

    def energy(lab: np.ndarray) -> float:
        inconsistent = inconsistencies(lab, partner)
        return schedule.alpha * predictor.mutual_predictability(lab) - inconsistent

    fix = _fixer(partner, energy)
    current = labels
    for seeded in np.flatnonzero(labels >= 0):
        current = fix(current, int(seeded))
    out = Search(current, energy(current), 0)
    out.trace.append(out.energy)
    for _ in tqdm(range(schedule.iterations), desc="icm", disable=not progress, leave=False):
        known = out.labels >= 0
        weights = np.where(~known & has & known[partner], PRIORITY, 1.0)
        k = int(rng.choice(n_claims, p=weights / weights.sum()))
        proposal = int(predictor.score(k, out.labels) > 0)
        if out.labels[k] == proposal:
            continue
        candidate = out.labels.copy()
        candidate[k] = proposal
        candidate = fix(candidate, k)
        u_new = energy(candidate)
        T = temperature(out.accepted, schedule.t0, schedule.t_min)
        if u_new >= out.energy or rng.random() < np.exp((u_new - out.energy) / T):
            out.labels, out.energy = candidate, u_new
            out.accepted += 1
            out.trace.append(u_new)
    return out


def _fixer(
    partner: np.ndarray, energy: Callable[[np.ndarray], float]
) -> Callable[[np.ndarray, int], np.ndarray]:
    """The repair step: a claim and its partner with the same label get the better (by U)
    of the pair's two consistent assignments."""

    def fix(lab: np.ndarray, k: int) -> np.ndarray:
        j = partner[k]
        if j < 0 or lab[j] < 0 or lab[j] != lab[k]:
            return lab
        options = []
        for v in (0, 1):
            opt = lab.copy()
            opt[k], opt[j] = v, 1 - v
            options.append(opt)
        return max(options, key=energy)

    return fix


class ICMReporter(ContrastReporter):
    """Labels of B's claims found by ICM, then a reporter built on them; the sign by the
    declared rule. ``predictor: probe``: B's contrast claims, the pair constraint and a
    probe on the strong model's features; ``in-context``: B's texts as claims and a
    generation model prompted with the labelled claims (:mod:`.icm_context`)."""

    solver: ClassVar[Solver] = "icm"

    class Params(ContrastReporter.Params):
        predictor: Literal["probe", "in-context"] = Field(
            "probe",
            description="how P(label | other labels) is computed: 'probe' (a held-out ridge "
            "probe on the strong model's contrast features) or 'in-context' (a generation "
            "model prompted with the other labelled claims, as the reference does)",
        )
        alpha: float = Field(30.0, gt=0.0, description="weight of mutual predictability in U")
        max_items: int = Field(
            128,
            ge=4,
            description="items of B searched (a seeded subset; 2 claims each with the probe, "
            "1 in context)",
        )
        iterations: int = Field(3000, ge=1, description="annealing proposals")
        initial: int = Field(
            8, ge=2, description="claims given random labels at the start (K; half each)"
        )
        t0: float = Field(10.0, gt=0.0, description="initial temperature")
        t_min: float = Field(0.01, gt=0.0, description="final temperature")
        ridge: float = Field(
            1.0, gt=0.0, description="ridge penalty of the probe (kernel of unit mean diagonal)"
        )
        generator: str | dict[str, Any] | None = Field(
            None,
            description="in-context only: the generation model, a generator spec (a model "
            "name = the local backend, or a mapping such as {backend: openai, base_url: ..., "
            "model: ...}); default the cell's strong model, local",
        )
        max_demos: int = Field(
            64,
            ge=1,
            description="in-context only: labelled claims shown as demonstrations when "
            "scoring T (context length)",
        )

        @field_validator("generator")
        @classmethod
        def _valid_spec(cls, v: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
            from sandwich.models.generation.spec import check_spec, normalise_spec

            if v is not None and (problems := check_spec(normalise_spec(v))):
                raise ValueError("invalid generator spec: " + "; ".join(problems))
            return v

        @model_validator(mode="after")
        def _generator_needs_context(self) -> Self:
            if self.generator is not None and self.predictor != "in-context":
                raise ValueError("generator is read only with predictor 'in-context'")
            return self

    hparams: Params
    _progress: bool = False  # a bar over the proposals (fit_cell sets it from the cell)

    @property
    def needs_contrast(self) -> bool:  # type: ignore[override]
        """The probe reads contrast features; the in-context predictor reads only texts."""
        return self.hparams.predictor == "probe"

    @property
    def reads_features(self) -> bool:
        return self.hparams.predictor == "probe"

    def schedule(self) -> Schedule:
        hp = self.hparams
        return Schedule(hp.alpha, hp.iterations, hp.initial, hp.t0, hp.t_min)

    def _subset(self, n: int, claims_per_item: int, rng: np.random.Generator) -> np.ndarray:
        """The seeded subset of B's ``n`` items the search runs on (sorted)."""
        hp = self.hparams
        if n < 2:
            raise ValueError(f"icm needs at least 2 items to search labels over, got {n}")
        chosen = np.sort(rng.permutation(n)[: min(hp.max_items, n)])
        m = len(chosen)
        if hp.initial > claims_per_item * m:
            raise ValueError(
                f"icm: initial={hp.initial} random labels but only {claims_per_item * m} claims "
                f"({m} items); lower initial"
            )
        return chosen

    def fit(self, X: np.ndarray, y: np.ndarray, random_state: int = 0) -> Self:
        if self.hparams.predictor != "probe":
            raise ValueError(
                "icm with predictor 'in-context' reads B's texts, not features: use fit_cell "
                "(or fit_texts)"
            )
        return super().fit(X, y, random_state)

    def _fit_raw(self, pos: np.ndarray, neg: np.ndarray, random_state: int) -> None:
        hp = self.hparams
        rng = np.random.default_rng([random_state, 2025])
        chosen = self._subset(len(pos), 2, rng)
        m = len(chosen)
        Z = np.vstack([pos[chosen], neg[chosen]])  # claim k and its partner k +- m
        self._scale_ = float(np.mean(np.sum(Z * Z, axis=1))) or 1.0
        K = self._kernel(Z, Z)
        partner = np.concatenate([np.arange(m, 2 * m), np.arange(m)])
        labels = self._record(anneal(ProbePredictor(K, partner, hp.ridge), partner,
                                     self.schedule(), rng, self._progress))  # fmt: skip
        self.labelled_ = np.flatnonzero(labels >= 0)
        self.claims_ = Z[self.labelled_]
        t = 2.0 * labels[self.labelled_] - 1.0
        M = np.linalg.inv(K[np.ix_(self.labelled_, self.labelled_)] + hp.ridge * np.eye(len(t)))
        self.dual_ = M @ t
        self.link_ = link_scale(held_out_scores(M, t, mates(self.labelled_, partner)), t)
        self.items_ = chosen
        self.search_claims_ = Z

    def _record(self, found: Search) -> np.ndarray:
        self.energy_trace_ = found.trace
        self.accepted_ = found.accepted
        self.energy_ = found.energy
        self.claim_labels_ = found.labels
        return found.labels

    def fit_cell(self, data: CellInputs, y: np.ndarray, workdir: Path | None = None) -> Self:
        """Fit on B: its contrast pairs (probe) or its texts (in-context); the sign from
        ``y`` (weak) or B's gold (``oracle``)."""
        self._progress = data.progress
        if self.hparams.predictor == "probe":
            return super().fit_cell(data, y, workdir)
        from sandwich.models.generation.spec import build_generator, normalise_spec

        spec = normalise_spec(self.hparams.generator or data.strong)
        reference = data.gold("train_strong") if self.needs_gold else y
        return self.fit_texts(
            data.texts("train_strong"), reference, build_generator(spec), data.seed
        )

    def fit_texts(
        self, texts: list[str], y: np.ndarray, generator: Any, random_state: int = 0
    ) -> Self:
        """ICM in context on B's ``texts`` with ``generator`` (a :class:`Generator`); ``y`` (weak
        labels, or gold with ``sign: oracle``) fixes the sign by agreement with ICM's labels
        of the searched items, before the flip recorded in ``raw_agreement_``."""
        from sandwich.elicit.reporters.icm_context import InContextPredictor

        y = np.asarray(y, dtype=np.float64)
        if y.shape != (len(texts),):
            raise ValueError(
                f"y must have one label per text, shape ({len(texts)},), got {y.shape}"
            )
        rng = np.random.default_rng([random_state, 2025])
        chosen = self._subset(len(texts), 1, rng)
        self.context_ = InContextPredictor(generator, [texts[i] for i in chosen])
        partner = np.full(len(chosen), -1)
        labels = self._record(anneal(self.context_, partner, self.schedule(), rng,
                                     self._progress))  # fmt: skip
        self.items_ = chosen
        known = labels >= 0
        self.raw_agreement_ = agreement(labels[known], y[chosen][known])
        self.sign_ = sign_from(labels[known], y[chosen][known])
        return self

    def predict_cell(self, data: CellInputs) -> np.ndarray:
        if self.hparams.predictor == "probe":
            return super().predict_cell(data)
        return self.predict_texts(data.texts("test"))

    def predict_texts(self, texts: list[str]) -> np.ndarray:
        """P(true) of ``texts`` by many-shot prompting with ICM's labelled claims (their labels
        oriented by the sign rule; at most ``max_demos``): ``sigmoid(log-odds)``."""
        context: InContextPredictor = self.context_
        labels = self.claim_labels_ if self.sign_ > 0 else np.where(
            self.claim_labels_ >= 0, 1 - self.claim_labels_, -1
        )  # fmt: skip
        return context.predict(texts, labels, self.hparams.max_demos)

    def coherence(self, item_labels: np.ndarray) -> tuple[float, float]:
        """(U, held-out accuracy) of a labelling of the searched items (``items_``), on the
        claims the search saw: a diagnostic to compare the labels ICM found with, e.g.,
        gold's. With the probe each item's ``pos`` claim gets its label, ``neg`` the other."""
        m = len(self.items_)
        if self.hparams.predictor == "in-context":
            labels = np.asarray(item_labels).astype(int)
            if labels.shape != (m,):
                raise ValueError(f"need one label per searched item ({m}), got {labels.shape}")
            return self.context_.coherence(labels, self.hparams.alpha)
        labels = np.concatenate([item_labels, 1 - item_labels]).astype(float)
        if labels.shape != (2 * m,):
            raise ValueError(f"need one label per searched item ({m}), got {item_labels.shape}")
        Z = self.search_claims_
        K = self._kernel(Z, Z)
        t = 2.0 * labels - 1.0
        M = np.linalg.inv(K + self.hparams.ridge * np.eye(2 * m))
        mate = np.concatenate([np.arange(m, 2 * m), np.arange(m)])
        f = held_out_scores(M, t, mate)
        u = self.hparams.alpha * mutual_predictability(M, t, mate)
        return u, float(np.mean((f > 0) == (t > 0)))

    def _kernel(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Linear kernel scaled to unit mean diagonal, plus 1 for the intercept."""
        k: np.ndarray = A @ B.T / self._scale_ + 1.0
        return k

    def _claim_proba(self, Z: np.ndarray) -> np.ndarray:
        p: np.ndarray = expit(self.link_ * (self._kernel(Z, self.claims_) @ self.dual_))
        return p

    def _raw_proba(self, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
        p: np.ndarray = 0.5 * (self._claim_proba(pos) + 1.0 - self._claim_proba(neg))
        return p
