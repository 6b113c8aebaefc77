"""A reward config's comparisons as a pairwise study's pairs (docs/rewards.md, "Human
preferences").

A ``human:<study>`` supervisor answers the comparisons of B and T that a reward
run draws; the study must ask exactly those. :func:`study_pairs` rebuilds them
the way the run does (the policy's samples, read from the store when the run
or an earlier call made them, the seed's A/B/T split, ``comparisons.per_prompt``)
and turns them into pairs (:func:`~sandwich.feedback.pairs.pairs_from_comparisons`),
so the pairs file and the run cannot drift apart. A's comparisons are left out:
no supervisor answers them (a weak reward model fits on A's gold).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from sandwich.errors import ConfigError
from sandwich.feedback.pairs import Pair, pairs_from_comparisons

if TYPE_CHECKING:
    from sandwich.models.generation.base import Generator
    from sandwich.runs.config import RunConfig
    from sandwich.store import ArtifactStore

ASKED = ("train_strong", "test")  # the splits a supervisor labels: B and T


def study_pairs(
    config: RunConfig,
    seed: int | None = None,
    store: ArtifactStore | None = None,
    generators: Mapping[str, Generator] | None = None,
    splits: Sequence[str] = ASKED,
    progress: bool = False,
) -> list[Pair]:
    """The pairs of ``splits``' comparisons (default B and T) of a reward config at
    ``seed`` (default the config's first), each remembering its comparison
    (``prompt_id``, ``a``, ``b``) and carrying its gold preference (for the
    study's gold and training checks). Samples the policy if the store has no
    samples yet (``generators``: the policy's generator by its label, as for a run)."""
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
    prompts = [p for s in splits for p in data.parts[s].prompts]
    comparisons = [c for s in splits for c in data.comparisons[s]]
    return pairs_from_comparisons(prompts, comparisons)
