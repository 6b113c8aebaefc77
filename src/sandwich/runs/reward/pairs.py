"""A reward config's comparisons as a pairwise study's pairs (docs/rewards.md, "Human
preferences").

A ``human:<study>`` supervisor answers the comparisons of B and T that a reward
run draws; the study must ask exactly those. :func:`study_pairs` rebuilds them
the way the run does (the policy's samples, read from the store when the run
or an earlier call made them, the seed's A/B/T split, ``comparisons.per_prompt``)
and turns them into pairs (:func:`~sandwich.feedback.pairs.pairs_from_comparisons`),
so the pairs file and the run cannot drift apart.

Only A's comparisons carry their gold preference into the file: the study draws
its gold checks and training items (whose feedback shows raters the answer) from
pairs with gold, so those come from A, the split whose gold a supervisor may
see (a weak reward model fits on it too). B's and T's pairs are written without
gold: raters never see an answer of a comparison they or the run are scored on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from sandwich.errors import ConfigError
from sandwich.feedback.pairs import Pair, pairs_from_comparisons

if TYPE_CHECKING:
    from sandwich.models.generation.base import Generator
    from sandwich.runs.config import RunConfig
    from sandwich.store import ArtifactStore

ASKED = ("train_weak", "train_strong", "test")  # A: checks and training (gold); B, T: asked
GOLD_SPLITS = frozenset({"train_weak"})  # the only split whose gold a study may show


def study_pairs(
    config: RunConfig,
    seed: int | None = None,
    store: ArtifactStore | None = None,
    generators: Mapping[str, Generator] | None = None,
    splits: Sequence[str] = ASKED,
    progress: bool = False,
) -> list[Pair]:
    """The pairs of ``splits``' comparisons (default A, B and T) of a reward config at
    ``seed`` (default the config's first), each remembering its comparison
    (``prompt_id``, ``a``, ``b``); A's carry their gold preference (the study's gold
    checks and training items), B's and T's none (module docstring). Samples the
    policy if the store has no samples yet (``generators``: the policy's generator by
    its label, as for a run)."""
    from sandwich.runs.context import RunContext
    from sandwich.runs.reward.cell import SPLITS, RewardData
    from sandwich.store import ArtifactStore

    if "reward" not in config.kinds:
        raise ConfigError(f"config {config.name!r} has no reward: section (study pairs need one)")
    bad = [s for s in splits if s not in SPLITS]
    if bad:
        raise ConfigError(f"splits: unknown {bad}; choose from {list(SPLITS)}")
    seed = config.seeds[0] if seed is None else seed
    ctx = RunContext(config, store or ArtifactStore(), progress, generators=dict(generators or {}))
    section = config.section("reward")
    data = RewardData.build(ctx, section.task, section.policy, seed)
    pairs = []
    for s in splits:
        made = pairs_from_comparisons(data.parts[s].prompts, data.comparisons[s])
        pairs += made if s in GOLD_SPLITS else [replace(p, gold=None) for p in made]
    return pairs
