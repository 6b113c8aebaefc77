"""ICM with the in-context predictor (``icm``, ``predictor: in-context``) on scripted generators:
a planted rule is the most mutually predictable labelling and the search finds it up to
sign without reading a label; prompts follow the documented template and one evaluation
of U is one batched call; a rerun is served by the response cache; the run plumbing
(``fit_cell``/``predict_cell``) reads texts only; bad input is refused by name."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sandwich.elicit import ELICITORS
from sandwich.elicit.reporters.icm import ICMReporter
from sandwich.elicit.reporters.icm_context import InContextPredictor, prompt
from sandwich.errors import ConfigError
from sandwich.models.generation.base import ChoiceRequest, Generator, GenRequest, GenResult
from sandwich.models.generation.cache import ResponseCache
from sandwich.models.generation.cached import CachedGenerator

COLOURS = ("blue", "red")


class Planted(Generator):
    """A learner in context with a hidden rule: the colour named in a claim decides its
    truth. It predicts the asked claim from the demonstrations of the same colour against
    those of the other colour, so a labelling is predictable exactly when the two colours
    get opposite labels (either way round); ``bias`` is a prior towards " True"."""

    def __init__(self, bias: float = 0.0) -> None:
        self.bias = bias
        self.calls: list[int] = []  # requests per score_choices call

    def describe(self) -> dict[str, Any]:
        return {"backend": "planted", "bias": self.bias}

    def generate(self, requests: Sequence[GenRequest]) -> list[GenResult]:
        raise NotImplementedError

    def score_choices(self, requests: Sequence[ChoiceRequest]) -> list[dict[str, float] | None]:
        self.calls.append(len(requests))
        return [self._one(r.messages[-1].content) for r in requests]

    def _one(self, text: str) -> dict[str, float]:
        *demos, asked = text.split("\n\n")
        colour = next(c for c in COLOURS if c in asked)
        vote = 0.0
        for d in demos:
            claim, verdict = d.rsplit("\nI think this claim is ", 1)
            sign = 1.0 if verdict == "True" else -1.0
            vote += sign if colour in claim else -sign
        f = 2.0 * vote / max(len(demos), 1) + self.bias
        return {" True": -np.logaddexp(0.0, -f), " False": -np.logaddexp(0.0, f)}


def claims(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """``n`` claims naming a colour; the gold label: blue."""
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 2, n)
    texts = [f"Ball {i} is {'blue' if g else 'red'}." for i, g in enumerate(gold)]
    return texts, gold.astype(float)


SMALL = {"predictor": "in-context", "max_items": 16, "iterations": 60, "initial": 4}


def icm(**params: object) -> ICMReporter:
    rep = ELICITORS.build("icm", **{**SMALL, **params})
    assert isinstance(rep, ICMReporter)
    return rep


def test_in_context_icm_recovers_a_planted_rule_up_to_sign_without_reading_labels() -> None:
    """The search labels every searched claim by the hidden rule or its mirror image; the
    weak labels (30% wrong) only fix the sign, and T is then scored right in context."""
    texts, gold = claims(40, seed=0)
    weak = np.where(np.random.default_rng(1).random(24) < 0.3, 1 - gold[:24], gold[:24])
    rep = icm().fit_texts(texts[:24], weak, Planted(), random_state=0)
    found = rep.claim_labels_
    assert (found >= 0).all()
    match = float(np.mean(found == gold[:24][rep.items_]))
    assert match in (0.0, 1.0), match  # the rule or its mirror image, exactly
    assert rep.raw_agreement_ == pytest.approx(np.mean(found == weak[rep.items_]))
    p = rep.predict_texts(texts[24:])
    assert np.all((p > 0) & (p < 1))
    assert float(np.mean((p > 0.5) == (gold[24:] > 0.5))) == 1.0
    assert rep.supervision == "sign" and not rep.needs_contrast and not rep.needs_gold


def test_the_sign_rule_flips_the_lm_labels_when_the_supervisor_disagrees() -> None:
    """An always-wrong supervisor flips the labelling ICM found (recorded before the flip
    in ``raw_agreement_``), so T is scored the wrong way round: the one bit it gave."""
    texts, gold = claims(40, seed=2)
    rep = icm().fit_texts(texts[:24], 1 - gold[:24], Planted(), random_state=0)
    assert rep.sign_ == (1 if rep.raw_agreement_ >= 0.5 else -1)
    p = rep.predict_texts(texts[24:])
    assert float(np.mean((p > 0.5) == (gold[24:] > 0.5))) == 0.0


def test_the_rule_is_more_coherent_than_random_labels_and_u_matches_the_search() -> None:
    texts, gold = claims(16, seed=3)
    rep = icm().fit_texts(texts, gold, Planted(), random_state=0)
    u_found, _ = rep.coherence(rep.claim_labels_)
    assert u_found == pytest.approx(rep.energy_)
    u_gold, acc_gold = rep.coherence(gold[rep.items_])
    noise = np.random.default_rng(0).integers(0, 2, 16)
    u_noise, acc_noise = rep.coherence(noise)
    assert u_gold > u_noise + 5 and acc_gold == 1.0 > acc_noise, (u_gold, u_noise)
    with pytest.raises(ValueError, match="one label per searched item"):
        rep.coherence(gold[:3])


def test_prompts_follow_the_template_and_one_u_is_one_batched_call() -> None:
    texts = ["A is blue.", "B is red.", "C is blue."]
    labels = np.array([1, 0, -1])
    assert prompt(texts, labels, 1, texts[1]) == (
        "A is blue.\nI think this claim is True\n\nB is red.\nI think this claim is"
    )
    gen = Planted()
    pred = InContextPredictor(gen, texts)
    pred.mutual_predictability(np.array([1, 0, 1]))
    assert gen.calls == [3]  # the three labelled claims, in one call
    pred.mutual_predictability(np.array([1, 0, 1]))
    assert gen.calls == [3]  # memoised: no new request


def test_a_rerun_with_the_same_seed_is_served_by_the_response_cache(tmp_path: Path) -> None:
    texts, gold = claims(16, seed=4)
    first, second = Planted(), Planted()
    a = icm().fit_texts(texts, gold, CachedGenerator(first, ResponseCache(tmp_path / "c.sqlite")))
    b = icm().fit_texts(texts, gold, CachedGenerator(second, ResponseCache(tmp_path / "c.sqlite")))
    assert sum(first.calls) > 0 and second.calls == []
    np.testing.assert_array_equal(a.claim_labels_, b.claim_labels_)


class Cell:
    """CellInputs with texts only: reading features would fail the test."""

    strong, seed, progress = "smollm2-135m", 0, False

    def __init__(self, n: int) -> None:
        self._texts, self._gold = claims(2 * n, seed=5)
        self.n = n

    def texts(self, split: str) -> list[str]:
        return self._texts[: self.n] if split == "train_strong" else self._texts[self.n :]

    def gold(self, split: str) -> np.ndarray:
        return self._gold[: self.n] if split == "train_strong" else self._gold[self.n :]

    def features(self, split: str) -> np.ndarray:
        raise AssertionError("in-context icm read features")

    def contrast_features(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        raise AssertionError("in-context icm read contrast features")

    def model(self, name: str) -> Any:
        raise AssertionError("in-context icm loaded a feature model")


def test_fit_cell_builds_the_generator_from_its_spec_and_reads_texts_only() -> None:
    """Through the run's interface with the scripted ``fake`` backend (behind the cache):
    valid probabilities on T; the oracle sign reads B's gold."""
    cell = Cell(12)
    rep = icm(generator={"backend": "fake"}, sign="oracle", max_items=12)
    rep.fit_cell(cell, np.full(12, 0.5))  # type: ignore[arg-type]
    p = rep.predict_cell(cell)  # type: ignore[arg-type]
    assert p.shape == (12,) and np.all((p >= 0) & (p <= 1))
    assert rep.needs_gold and rep.supervision == "none"
    known = rep.claim_labels_ >= 0  # a short search may leave a claim unlabelled
    gold = cell.gold("train_strong")[rep.items_]
    assert rep.raw_agreement_ == pytest.approx(np.mean(rep.claim_labels_[known] == gold[known]))


def test_a_backend_that_cannot_score_is_a_clear_error() -> None:
    cell = Cell(8)
    rep = icm(generator={"backend": "fake", "can_score": False}, max_items=8)
    with pytest.raises(RuntimeError, match="no log-probs"):
        rep.fit_cell(cell, np.ones(8))  # type: ignore[arg-type]


def test_bad_in_context_input_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="generator"):
        ELICITORS.build("icm", predictor="in-context", generator={"backend": "openai"})
    with pytest.raises(ConfigError, match="generator"):
        ELICITORS.build("icm", generator="smollm2-135m")  # the probe reads no generator
    with pytest.raises(ConfigError, match="max_demos"):
        ELICITORS.build("icm", predictor="in-context", max_demos=0)
    texts, gold = claims(6, seed=6)
    with pytest.raises(ValueError, match="fit_cell"):
        icm().fit(np.zeros((6, 4)), gold)
    with pytest.raises(ValueError, match=r"initial=8.*3 claims"):
        icm(initial=8).fit_texts(texts[:3], gold[:3], Planted())
    with pytest.raises(ValueError, match="one label per text"):
        icm().fit_texts(texts, gold[:2], Planted())


def test_the_memo_is_capped_without_losing_the_answers_of_a_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past its cap the memo starts again; a call mixing memoised and new prompts still
    returns every answer, equal to an uncapped predictor's."""
    monkeypatch.setattr("sandwich.elicit.reporters.icm_context._MEMO_CAP", 2)
    texts = ["A is blue.", "B is red.", "C is blue.", "D is red."]
    capped, plain = InContextPredictor(Planted(), texts), InContextPredictor(Planted(), texts)
    labels = np.array([1, 0, 1, -1])
    first = capped.log_odds([prompt(texts, labels, k, texts[k]) for k in range(2)])
    both = [prompt(texts, labels, k, texts[k]) for k in range(4)]
    np.testing.assert_array_equal(capped.log_odds(both), plain.log_odds(both))
    np.testing.assert_array_equal(first, plain.log_odds(both)[:2])


def test_a_w2s_run_extracts_contrast_features_for_the_probe_icm_only() -> None:
    from sandwich.runs import parse_config
    from sandwich.runs.w2s.data import contrast_jobs

    def config(params: dict[str, object]) -> Any:
        return parse_config({
            "name": "icm", "tasks": [{"name": "cities", "n_items": 60}],
            "weak": ["minilm-l6"], "strong": ["smollm2-135m"], "seeds": [0],
            "elicitors": [{"name": "icm", "params": params}],
        })  # fmt: skip

    assert contrast_jobs(config({"predictor": "in-context"})) == []
    assert len(contrast_jobs(config({}))) == 1
