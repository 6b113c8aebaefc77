"""Internal coherence maximisation (``icm``, Wen et al. 2025) on the strong model's features.

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

``predictor: in-context`` (P(y_i | others) from a generation model prompted with
the other labelled claims) is not offered: one evaluation of U for 8 claims took
50 s on smollm2-135m under load (benchmarks/icm_in_context_cost.py, docs/reporters.md).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field
from scipy.special import expit, log_expit

from sandwich.elicit.reporters.contrast import ContrastReporter

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


class ICMReporter(ContrastReporter):
    """Labels of B's contrast claims found by ICM (probe-based mutual predictability,
    the pair constraint), then the probe fit on them; the sign by the declared rule."""

    class Params(ContrastReporter.Params):
        predictor: Literal["probe"] = Field(
            "probe",
            description="how P(label | other labels) is computed: 'probe' (a held-out ridge "
            "probe on the strong model's features; the only one offered)",
        )
        alpha: float = Field(30.0, gt=0.0, description="weight of mutual predictability in U")
        max_items: int = Field(
            128, ge=4, description="items of B searched (2 claims each; a seeded subset)"
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

    hparams: Params

    def _fit_raw(self, pos: np.ndarray, neg: np.ndarray, random_state: int) -> None:
        hp = self.hparams
        rng = np.random.default_rng([random_state, 2025])
        n = len(pos)
        if n < 2:
            raise ValueError(f"icm needs at least 2 items to search labels over, got {n}")
        chosen = np.sort(rng.permutation(n)[: min(hp.max_items, n)])
        m = len(chosen)
        if hp.initial > 2 * m:
            raise ValueError(
                f"icm: initial={hp.initial} random labels but only {2 * m} claims "
                f"({m} items); lower initial"
            )
        Z = np.vstack([pos[chosen], neg[chosen]])  # claim k and its partner k +- m
        self._scale_ = float(np.mean(np.sum(Z * Z, axis=1))) or 1.0
        K = self._kernel(Z, Z)
        partner = np.concatenate([np.arange(m, 2 * m), np.arange(m)])
        labels = self._search(K, partner, rng)
        self.labelled_ = np.flatnonzero(labels >= 0)
        self.claims_ = Z[self.labelled_]
        t = 2.0 * labels[self.labelled_] - 1.0
        M = np.linalg.inv(K[np.ix_(self.labelled_, self.labelled_)] + hp.ridge * np.eye(len(t)))
        self.dual_ = M @ t
        self.link_ = link_scale(held_out_scores(M, t, mates(self.labelled_, partner)), t)
        self.items_ = chosen
        self.claim_labels_ = labels
        self.search_claims_ = Z

    def coherence(self, item_labels: np.ndarray) -> tuple[float, float]:
        """(U, held-out accuracy) of a labelling of the searched items (``items_``; each
        item's ``pos`` claim gets its label, ``neg`` the other), on the claims the search
        saw: a diagnostic to compare the labels ICM found with, e.g., gold's."""
        m = len(self.items_)
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

    def _search(self, K: np.ndarray, partner: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Simulated annealing over the labels of the claims (-1: unlabelled)."""
        hp = self.hparams
        n_claims = len(partner)
        labels = np.full(n_claims, -1)
        seed_labels = np.array([1, 0] * (hp.initial // 2) + [1] * (hp.initial % 2))
        labels[rng.choice(n_claims, hp.initial, replace=False)] = rng.permutation(seed_labels)
        inverses: dict[bytes, np.ndarray] = {}

        def inverse(idx: np.ndarray) -> np.ndarray:
            key = idx.tobytes()
            if key not in inverses:
                if len(inverses) > 4:
                    inverses.clear()
                inverses[key] = np.linalg.inv(K[np.ix_(idx, idx)] + hp.ridge * np.eye(len(idx)))
            return inverses[key]

        def energy(lab: np.ndarray) -> float:
            idx = np.flatnonzero(lab >= 0)
            t = 2.0 * lab[idx] - 1.0
            both = (lab >= 0) & (lab[partner] >= 0)
            inconsistent = int(np.sum(both & (lab == lab[partner]))) // 2
            mp = mutual_predictability(inverse(idx), t, mates(idx, partner))
            return hp.alpha * mp - inconsistent

        def fix(lab: np.ndarray, k: int) -> np.ndarray:
            """The better (by U) of the pair's two consistent assignments, if it is broken."""
            j = partner[k]
            if lab[j] < 0 or lab[j] != lab[k]:
                return lab
            options = []
            for v in (0, 1):
                opt = lab.copy()
                opt[k], opt[j] = v, 1 - v
                options.append(opt)
            return max(options, key=energy)

        current = labels
        for seeded in np.flatnonzero(labels >= 0):
            current = fix(current, int(seeded))
        u = energy(current)
        accepted = 0
        self.energy_trace_ = [u]
        for _ in range(hp.iterations):
            known = current >= 0
            weights = np.where(~known & known[partner], PRIORITY, 1.0)
            k = int(rng.choice(n_claims, p=weights / weights.sum()))
            idx = np.flatnonzero(known)
            t = 2.0 * current[idx] - 1.0
            M = inverse(idx)
            if known[k]:  # its prediction from the others (its partner left out)
                at = int(np.searchsorted(idx, k))
                score = float(held_out_scores(M, t, mates(idx, partner))[at])
            else:  # the probe on the labelled claims but its partner (a downdate of M)
                a = M @ t
                if known[partner[k]]:
                    q = int(np.searchsorted(idx, partner[k]))
                    a = a - M[:, q] * (a[q] / M[q, q])
                    a[q] = 0.0
                score = float(K[k, idx] @ a)
            proposal = int(score > 0)
            if current[k] == proposal:
                continue
            candidate = current.copy()
            candidate[k] = proposal
            candidate = fix(candidate, k)
            u_new = energy(candidate)
            T = temperature(accepted, hp.t0, hp.t_min)
            if u_new >= u or rng.random() < np.exp((u_new - u) / T):
                current, u = candidate, u_new
                accepted += 1
                self.energy_trace_.append(u)
        self.accepted_ = accepted
        self.energy_ = u
        return current

    def _claim_proba(self, Z: np.ndarray) -> np.ndarray:
        p: np.ndarray = expit(self.link_ * (self._kernel(Z, self.claims_) @ self.dual_))
        return p

    def _raw_proba(self, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
        p: np.ndarray = 0.5 * (self._claim_proba(pos) + 1.0 - self._claim_proba(neg))
        return p
