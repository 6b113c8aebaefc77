"""Preference data for reward models: prompts, completions with a gold reward, comparisons.

- :mod:`~sandwich.rewards.data.records`: :class:`Completion`, :class:`RewardPrompt`,
  :class:`Comparison`, :class:`GoldReward`, :class:`PreferenceSet` (comparisons, the
  A/B/T split by group, the completions as a Task for the features cache).
- :mod:`~sandwich.rewards.data.builtin`: the built-in tasks (:data:`REWARD_TASKS`:
  ``geo-prefs``, ``arith-prefs``) and :func:`load_reward_task`.
- :mod:`~sandwich.rewards.data.sampling`: :func:`sample_completions` from a Generator.
- :mod:`~sandwich.rewards.data.files`: :func:`load_preference_file` (user JSONL).

See docs/rewards.md, "Preference data".
"""

from sandwich.rewards.data.builtin import REWARD_TASKS, gold_for, load_reward_task
from sandwich.rewards.data.files import load_preference_file
from sandwich.rewards.data.records import (
    Comparison,
    Completion,
    GoldReward,
    PreferenceSet,
    RewardPrompt,
    completion_item_id,
    join_text,
    prompt_id,
)
from sandwich.rewards.data.sampling import SamplingError, cut_completion, sample_completions

__all__ = [
    "REWARD_TASKS",
    "Comparison",
    "Completion",
    "GoldReward",
    "PreferenceSet",
    "RewardPrompt",
    "SamplingError",
    "completion_item_id",
    "cut_completion",
    "gold_for",
    "join_text",
    "load_preference_file",
    "load_reward_task",
    "prompt_id",
    "sample_completions",
]
