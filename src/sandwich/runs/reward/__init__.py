"""The ``reward`` kind: reward models trained on weak preferences, and what optimising a
policy against them costs (docs/rewards.md).

Light on purpose: ``schema`` (pydantic only) is imported to parse configs and
results; ``kind``, ``cell`` and ``report`` (numpy, the models) only when the kind runs.
"""
