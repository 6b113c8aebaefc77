"""Completions sampled from a policy through the Generator interface, scored by the gold program.

Every (prompt, sample) pair is one :class:`GenRequest` with its own seed
(:func:`sample_seed`: a hash of the run's seed, the prompt id and the sample's
index), so through a :class:`~sandwich.models.generation.CachedGenerator` a
repeated or interrupted call is served from the response cache, and asking for
more samples later reuses the first ones. The prompt is sent as one user
message; for a completion-style prompt ("The city of Chengdu is in") build the
generator with ``prompt_format: plain`` so the model continues the text.

Each completion is cut (:func:`cut_completion`) at the first newline and then
after the first sentence end (".", "!" or "?" followed by whitespace or the end:
"3.5" and "U.S.A" are not cut, "U.S. " is); the request also stops at a
newline, which saves tokens.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tqdm import tqdm

from sandwich.errors import SandwichError
from sandwich.models.generation.base import Generator, GenRequest, Message
from sandwich.rewards.data.records import Completion, GoldReward, PreferenceSet, RewardPrompt
from sandwich.store.hashing import digest

_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


class SamplingError(SandwichError):
    """Some completions could not be generated (the backend's errors are in the message)."""


def sample_seed(seed: int, pid: str, index: int) -> int:
    """The seed of sample ``index`` of prompt ``pid``: independent of the other prompts
    and of how many samples are drawn."""
    return int(digest(["sample", seed, pid, index])[:15], 16)


def cut_completion(text: str) -> str:
    """``text`` up to its first newline, then up to and including its first sentence end."""
    text = text.split("\n", 1)[0]
    m = _SENTENCE_END.search(text)
    return text if m is None else text[: m.end()]


def completion_requests(
    prompts: Sequence[RewardPrompt],
    n: int,
    seed: int,
    max_new_tokens: int,
    temperature: float,
    top_p: float = 1.0,
) -> list[GenRequest]:
    """The requests :func:`sample_completions` sends: prompt by prompt, ``n`` each."""
    return [
        GenRequest(
            (Message("user", p.prompt),),
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=sample_seed(seed, p.id, j),
            stop=("\n",),
        )
        for p in prompts
        for j in range(n)
    ]


def sample_completions(
    generator: Generator,
    prompts: Sequence[RewardPrompt],
    n: int,
    seed: int,
    max_new_tokens: int = 16,
    temperature: float = 1.0,
    gold: GoldReward | None = None,
    *,
    top_p: float = 1.0,
    batch_prompts: int = 16,
    name: str = "completions",
    progress: bool = False,
) -> PreferenceSet:
    """``n`` completions per prompt from ``generator``, each scored by ``gold`` (if given).

    Requests go ``batch_prompts`` prompts at a time (a tqdm bar with ``progress``), so
    finished batches are in the response cache if a later one fails. Any failed
    generation (``GenResult.error``) raises :class:`SamplingError` after all batches,
    naming how many failed and the first few (prompt id, sample, error); the
    successes are cached, so a rerun only retries the failures. The prompts keep
    their metadata; any completions they had are replaced.
    """
    if n < 1:
        raise ValueError(f"n (samples per prompt) must be >= 1, got {n}")
    if not prompts:
        raise ValueError("no prompts to sample completions for")
    texts: list[str] = []
    failures: list[str] = []
    starts = range(0, len(prompts), batch_prompts)
    for lo in tqdm(starts, desc=f"sample {name}", disable=not progress, unit="batch"):
        chunk = prompts[lo : lo + batch_prompts]
        reqs = completion_requests(chunk, n, seed, max_new_tokens, temperature, top_p)
        for k, res in enumerate(generator.generate(reqs)):
            if res.error is not None:
                p = chunk[k // n]
                failures.append(f"prompt {p.id} ({p.prompt[-40:]!r}) sample {k % n}: {res.error}")
            texts.append(cut_completion(res.text))
    if failures:
        shown = "\n  ".join(failures[:5])
        more = f"\n  ... and {len(failures) - 5} more" if len(failures) > 5 else ""
        raise SamplingError(
            f"{len(failures)} of {len(texts)} completions failed to generate "
            f"({generator.describe().get('backend')} backend; successes are cached, "
            f"rerun to retry):\n  {shown}{more}"
        )
    out = []
    for i, p in enumerate(prompts):
        row = texts[i * n : (i + 1) * n]
        out.append(
            p.with_completions(
                [Completion(t, None if gold is None else float(gold(p, t))) for t in row]
            )
        )
    source = {
        "kind": "sampled",
        "generator": generator.describe(),
        "n": n,
        "seed": seed,
        "max_new_tokens": max_new_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "gold": None if gold is None else gold.name,
    }
    return PreferenceSet(out, name, source)
