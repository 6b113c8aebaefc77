"""The ``sandbagging`` kind: a password-locked model organism (Greenblatt et al. 2024).

Light on purpose: ``schema`` (pydantic only) is imported to parse configs and
results; ``lock`` and ``kind`` (torch) only when the kind runs.
"""
