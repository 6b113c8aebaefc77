"""Supervisors of preferences see only what they may: A's gold to fit, never B's or T's."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from sandwich.models.generation.base import ChoiceRequest, Generator, GenRequest, GenResult
from sandwich.rewards.supervisors import (
    GoldHidden,
    GoldPreferences,
    JudgePreferences,
    NonexpertPreferences,
    PrefQuestions,
    WeakRMPreferences,
)


def questions(n: int, seed: int, reveal: bool, dim: int = 6) -> tuple[PrefQuestions, np.ndarray]:
    """n comparisons whose gold follows a planted direction of the 'weak' features."""
    rng = np.random.default_rng(seed)
    fa, fb = rng.normal(size=(n, dim)), rng.normal(size=(n, dim))
    w = np.arange(1, dim + 1, dtype=float)
    ga, gb = (fa @ w > 0).astype(float), (fb @ w > 0).astype(float)
    gold = np.where(ga > gb, 1.0, np.where(ga < gb, 0.0, 0.5))
    q = PrefQuestions(
        prompt_ids=tuple(f"p{i}" for i in range(n)), a=(0,) * n, b=(1,) * n,
        prompts=("x",) * n, texts_a=("a",) * n, texts_b=("b",) * n,
        difficulty=rng.uniform(size=n), features=lambda model: (fa, fb), reveal=reveal,
        _gold=gold, _gold_a=ga, _gold_b=gb,
    )  # fmt: skip
    return q, gold


def test_gold_reads_gold_only_when_revealed() -> None:
    q, gold = questions(50, 0, reveal=True)
    assert np.array_equal(GoldPreferences().prefs(q, 0), gold)
    hidden, _ = questions(50, 0, reveal=False)
    with pytest.raises(GoldHidden):
        GoldPreferences().prefs(hidden, 0)


def test_weak_rm_fits_on_a_and_labels_b_without_its_gold() -> None:
    a, _ = questions(400, 1, reveal=True)
    b, gold_b = questions(300, 2, reveal=False)  # hidden: reading it would raise
    sup = WeakRMPreferences("any-model", l2=1.0)
    sup.fit(a, seed=0)
    p = sup.prefs(b, seed=0)
    decided = gold_b != 0.5
    acc = np.mean((p[decided] > 0.5) == (gold_b[decided] == 1.0))
    assert acc > 0.8  # it learned the planted direction from A's gold alone
    # B's gold does not move its labels: scramble it and label again
    scrambled = PrefQuestions(**{**b.__dict__, "_gold": gold_b[::-1].copy()})
    assert np.array_equal(sup.prefs(scrambled, seed=0), p)


def test_weak_rm_must_be_fit_first() -> None:
    b, _ = questions(10, 0, reveal=False)
    with pytest.raises(Exception, match="fit on A"):
        WeakRMPreferences("m").prefs(b, 0)


def test_nonexpert_sees_only_the_coarse_gold_and_errs_with_difficulty() -> None:
    n = 4000
    rng = np.random.default_rng(3)
    ga = rng.choice([0.0, 0.5, 1.0], size=n)
    gb = rng.choice([0.0, 0.5, 1.0], size=n)
    gold = np.where(ga > gb, 1.0, np.where(ga < gb, 0.0, 0.5))
    easy = rng.uniform(size=n) < 0.5
    q = PrefQuestions(
        prompt_ids=tuple(f"p{i}" for i in range(n)), a=(0,) * n, b=(1,) * n,
        prompts=("x",) * n, texts_a=("a",) * n, texts_b=("b",) * n,
        difficulty=np.where(easy, 0.0, 1.0), _gold=gold, _gold_a=ga, _gold_b=gb,
    )  # fmt: skip
    p = NonexpertPreferences(threshold=0.5, knowledge=0.5, noise=0.2).prefs(q, seed=0)
    assert set(np.unique(p)) <= {0.0, 1.0}
    sees = (ga >= 0.5) != (gb >= 0.5)
    right = p == (ga > gb)
    assert abs(right[sees & easy].mean() - 0.8) < 0.04  # known prompts: flips 20%
    assert abs(right[sees & ~easy].mean() - 0.5) < 0.05  # too hard: a guess
    blind = ~sees & (gold != 0.5)  # 0.5 vs 1.0: the same side of the threshold, a guess
    assert abs(right[blind & easy].mean() - 0.5) < 0.06
    # deterministic per (seed, comparison), whatever the order
    again = NonexpertPreferences(threshold=0.5, knowledge=0.5, noise=0.2).prefs(q, seed=0)
    assert np.array_equal(p, again)


class OrderBiasedJudge(Generator):
    """Scores "1" higher when the first completion contains 'good', with a pull to "1"."""

    def generate(self, requests: Sequence[GenRequest]) -> list[GenResult]:
        raise AssertionError("the judge only scores choices")

    def score_choices(self, requests: Sequence[ChoiceRequest]) -> list[dict[str, float] | None]:
        out: list[dict[str, float] | None] = []
        for r in requests:
            text = r.messages[0].content
            first = text.split("Completion 1:")[1].split("Completion 2:")[0]
            if "skip" in text:
                out.append(None)
                continue
            one = (1.0 if "good" in first else -1.0) + 0.5  # + position bias toward "1"
            out.append({"1": one, "2": 0.0})
        return out

    def describe(self) -> dict[str, str]:
        return {"backend": "test-judge"}


def test_judge_averages_both_orders_and_falls_back_to_half() -> None:
    q = PrefQuestions(
        prompt_ids=("p", "q", "r"), a=(0, 0, 0), b=(1, 1, 1), prompts=("x", "x", "skip"),
        texts_a=("good", "bad", "good"), texts_b=("bad", "good", "bad"),
        difficulty=np.zeros(3),
    )  # fmt: skip
    p = JudgePreferences(OrderBiasedJudge(), batch_size=2).prefs(q, seed=0)
    assert p[0] > 0.5 > p[1] and p[2] == 0.5
    assert abs(p[0] + p[1] - 1.0) < 1e-9  # the position bias cancels over the two orders


def test_human_preferences_map_a_studys_pairs_to_the_comparisons(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each comparison gets its pair's aggregated P(a); a pair asked the other way round
    gives 1 - P; new labels change the spec (the store key); an unjudged one fails."""
    from sandwich.feedback.analysis import pair_preferences as pp
    from sandwich.rewards.supervisors import HumanPreferences

    judged = [pp.PairPreference("k1", "x", "a", "b", 0.8, 3, None, "p", 0, 1),
              pp.PairPreference("k2", "x", "a", "b", 0.3, 2, None, "q", 2, 0)]  # fmt: skip
    monkeypatch.setattr(pp, "study_pair_preferences", lambda db, study, method: judged)
    q = PrefQuestions(
        prompt_ids=("p", "q"), a=(0, 0), b=(1, 2), prompts=("x", "x"), texts_a=("a", "a"),
        texts_b=("b", "b"), difficulty=np.zeros(2),
    )  # fmt: skip
    sup = HumanPreferences("sqlite:///x.db", "prefs")
    assert np.allclose(sup.prefs(q, 0), [0.8, 0.7])
    spec = sup.spec()
    other = HumanPreferences("sqlite:///x.db", "prefs")
    judged[0] = pp.PairPreference("k1", "x", "a", "b", 0.9, 4, None, "p", 0, 1)
    assert other.spec() != spec
    unjudged = PrefQuestions(
        prompt_ids=("r",), a=(0,), b=(1,), prompts=("x",), texts_a=("a",), texts_b=("b",),
        difficulty=np.zeros(1),
    )  # fmt: skip
    with pytest.raises(Exception, match="no human preference"):
        other.prefs(unjudged, 0)
    assert HumanPreferences("u", "s", missing=0.5).prefs(unjudged, 0).tolist() == [0.5]
