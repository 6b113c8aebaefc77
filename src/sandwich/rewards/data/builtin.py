"""Built-in preference tasks (:data:`REWARD_TASKS`) and :func:`load_reward_task`.

A built-in task makes prompts without completions (a policy samples those,
:func:`sandwich.rewards.data.sampling.sample_completions`) and names its gold
program: ``geo-prefs`` (:mod:`sandwich.rewards.data.geo`) and ``arith-prefs``
(:mod:`sandwich.rewards.data.arith`). Each entry declares its parameters as a
pydantic ``Params`` model, like the task registry (``n_items`` is the number of
prompts, ``seed`` the generator's seed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sandwich.errors import ConfigError
from sandwich.registry import Registry
from sandwich.rewards.data.records import GoldReward, RewardPrompt

REWARD_TASKS: Registry[list[RewardPrompt]] = Registry("reward task")

_D = "sandwich.rewards.data"
REWARD_TASKS.lazy("arith-prefs", f"{_D}.arith:arith_prefs",
                  '"What is {a} + {b}? Answer:"; gold graded by the answer\'s error')  # fmt: skip
REWARD_TASKS.lazy("geo-prefs", f"{_D}.geo:geo_prefs",
                  '"The city of {city} is in"; gold 1 country, .5 continent, else 0')  # fmt: skip


def gold_for(name: str, params: dict[str, Any] | None = None) -> GoldReward:
    """The gold program of built-in task ``name`` (UnknownNameError for another name).

    ``params`` of ``arith-prefs`` may hold ``rel_scale`` (the gold's error scale).
    """
    from sandwich.rewards.data.arith import ArithGold
    from sandwich.rewards.data.geo import GeoGold

    REWARD_TASKS.entry(name)  # an unknown name fails naming the built-ins
    if name == "geo-prefs":
        return GeoGold()
    return ArithGold(**(params or {}))


def load_reward_task(
    name_or_path: str,
    n_prompts: int | None = None,
    seed: int = 0,
    params: dict[str, Any] | None = None,
) -> tuple[list[RewardPrompt], GoldReward | None]:
    """Prompts and the gold program of a built-in task, or the prompts of a preference file.

    - A registered name (``geo-prefs``, ``arith-prefs``): ``n_prompts`` prompts (None =
      the task's default) without completions, made with ``seed`` and ``params`` (the
      entry's Params; ``gold`` may hold the gold program's parameters), and its gold.
    - A ``.jsonl`` path (:func:`sandwich.rewards.data.files.load_preference_file`): its
      prompts *with* their two completions, whose gold values the file fixes, and
      ``None`` for the gold program; ``n_prompts`` means at most that many, chosen by
      ``seed``, in file order.
    """
    params = dict(params or {})
    gold_params = params.pop("gold", None)
    if name_or_path in REWARD_TASKS:
        kwargs = dict(params, seed=seed)
        if n_prompts is not None:
            kwargs["n_items"] = n_prompts
        prompts = REWARD_TASKS.build(name_or_path, **kwargs)
        return prompts, gold_for(name_or_path, gold_params)
    if name_or_path.endswith(".jsonl") or Path(name_or_path).suffix:
        from sandwich.rewards.data.files import load_preference_file

        if params or gold_params:
            raise ConfigError(f"a preference file takes no parameters, got {sorted(params)}")
        prompts = list(load_preference_file(name_or_path).prompts)
        if n_prompts is not None and n_prompts < len(prompts):
            if n_prompts < 1:
                raise ConfigError(f"n_prompts must be positive, got {n_prompts}")
            perm = np.random.default_rng([seed, 15485863]).permutation(len(prompts))
            prompts = [prompts[int(i)] for i in np.sort(perm[:n_prompts])]
        return prompts, None
    REWARD_TASKS.entry(name_or_path)  # raises UnknownNameError listing the built-ins
    raise AssertionError("unreachable")
