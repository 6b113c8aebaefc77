"""ICM's in-context predictor (``icm`` with ``predictor: in-context``): P(label | other labels)
from a generation model prompted with the other labelled claims, as Wen et al. (2025) do.

**Claims.** One claim per item of B: its text, as the task writes it (no
contrast framing). There is no constraint between claims (I(D) = 0): the
only one every task has, "a statement and its negation get opposite labels",
needs two claims per item, and in context the negation would be a second text
whose label the model reads off its partner in the prompt (the same leak the
probe variant avoids by leaving the partner out); built-in tasks encode no
relation between items that holds uniformly (see :mod:`.icm`). So U is
``alpha * MP`` alone, and the search is the reference's without its repair step.

**Template** (the reference's), one demonstration per labelled claim, in the
order of the searched subset, then the claim asked about::

    {text}
    I think this claim is True

    {text}
    I think this claim is False

    {text of claim k}
    I think this claim is

sent as one user message; the generator scores the continuations " True" and
" False" (``Generator.score_choices``), and the log-odds of claim k is
``log P(" True") - log P(" False")``: the two choices renormalised, so
``log P(label) = log sigmoid(+-log-odds)``. MP is its mean over the labelled
claims, each asked with every other labelled claim in context: one request
per labelled claim, all of one evaluation in ONE ``score_choices`` call (the
backend batches; a vLLM server caches the shared prefixes). Requests go
through the response cache (``build_generator``), so a rerun costs nothing,
and the log-odds of a prompt seen before in this fit are memoised.

**Scoring T**: many-shot prompting with ICM's labelled claims (at most
``max_demos``, the first in the searched order; labels oriented by the sign
rule) as demonstrations, P(true) = sigmoid(log-odds), all of T in one call.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from scipy.special import expit, log_expit

from sandwich.models.generation.base import ChoiceRequest, Generator, Message

CHOICES = (" True", " False")
QUESTION = "{text}\nI think this claim is"
DEMO = QUESTION + " {label}\n\n"
_MEMO_CAP = 1_000_000
"""Prompts whose log-odds a fit keeps (by a 16-byte digest: a prompt of 256 claims is ~10 kB)."""


def _key(p: str) -> bytes:
    return hashlib.blake2b(p.encode(), digest_size=16).digest()


def prompt(texts: Sequence[str], labels: np.ndarray, k: int, question: str) -> str:
    """Every labelled claim but ``k`` as a demonstration, then ``question`` framed as a claim."""
    demos = "".join(
        DEMO.format(text=texts[j], label="True" if labels[j] else "False")
        for j in np.flatnonzero(labels >= 0).tolist()
        if j != k
    )
    return demos + QUESTION.format(text=question)


class InContextPredictor:
    """The :class:`~.icm.Predictor` of the claims ``texts`` through ``generator``."""

    def __init__(self, generator: Generator, texts: Sequence[str]) -> None:
        self.generator, self.texts = generator, list(texts)
        self._memo: dict[bytes, float] = {}

    def log_odds(self, prompts: Sequence[str]) -> np.ndarray:
        """log P(" True") - log P(" False") after each prompt, new prompts in one call."""
        keys = [_key(p) for p in prompts]
        got = {k: self._memo[k] for k in keys if k in self._memo}
        new = list(dict.fromkeys((k, p) for k, p in zip(keys, prompts, strict=True)
                                 if k not in got))  # fmt: skip
        if new:
            reqs = [ChoiceRequest((Message("user", p),), CHOICES) for _, p in new]
            out = self.generator.score_choices(reqs)
            for (k, _), scores in zip(new, out, strict=True):
                if scores is None:
                    raise RuntimeError(
                        f"icm in-context: the generator {self.generator.describe()!r} returned "
                        f"no log-probs for {CHOICES} (a backend that cannot score choices, or a "
                        "failed request); in-context ICM needs score_choices"
                    )
                got[k] = scores[CHOICES[0]] - scores[CHOICES[1]]
            if len(self._memo) + len(new) > _MEMO_CAP:
                self._memo.clear()
            self._memo.update(got)
        return np.array([got[k] for k in keys])

    def score(self, k: int, labels: np.ndarray) -> float:
        return float(self.log_odds([prompt(self.texts, labels, k, self.texts[k])])[0])

    def held_out(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(log-odds, +-1 label) of every labelled claim given all the others."""
        idx = np.flatnonzero(labels >= 0)
        f = self.log_odds([prompt(self.texts, labels, int(k), self.texts[k]) for k in idx])
        return f, 2.0 * labels[idx] - 1.0

    def mutual_predictability(self, labels: np.ndarray) -> float:
        f, t = self.held_out(labels)
        return float(np.mean(log_expit(t * f)))

    def coherence(self, labels: np.ndarray, alpha: float) -> tuple[float, float]:
        """(U, held-out accuracy) of a full labelling of the claims."""
        f, t = self.held_out(labels)
        return alpha * float(np.mean(log_expit(t * f))), float(np.mean((f > 0) == (t > 0)))

    def predict(self, texts: Sequence[str], labels: np.ndarray, max_demos: int) -> np.ndarray:
        """P(true) of ``texts`` with at most ``max_demos`` of the labelled claims as
        demonstrations (the first in the searched order)."""
        keep = np.flatnonzero(labels >= 0)[:max_demos]
        demos = np.full(len(labels), -1)
        demos[keep] = labels[keep]
        f = self.log_odds([prompt(self.texts, demos, -1, t) for t in texts])
        p: np.ndarray = expit(f)
        return p
