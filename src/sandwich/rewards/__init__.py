"""Reward models under weak supervision (docs/rewards.md).

Preference data with a programmatic gold reward (``rewards.data``), the
supervisors of preferences (``rewards.supervisors``), reward models (a
Bradley-Terry head on frozen features, ``rewards.bradley_terry``; a fine-tuned
one, ``rewards.finetuned``), their statistics (``rewards.pairwise``: pairwise
accuracy and reward-model PGR with CIs; ``rewards.bon``: best-of-n and its KL;
``rewards.gao``: the over-optimisation forms of Gao et al. 2022) and RL against
a proxy reward (``rewards.rl``). The ``reward`` experiment kind
(:mod:`sandwich.runs.reward`) puts them together.
"""
