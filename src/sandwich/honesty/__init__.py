"""Honesty evals on generation models through the :class:`~sandwich.models.generation.Generator`
interface (local models, OpenAI-compatible servers and the response cache all work).

:mod:`sandwich.honesty.sycophancy` asks a task's items alone, with a user's suggested
answer and after an "Are you sure?" challenge; :mod:`sandwich.honesty.metrics` turns the
records into flip rates and accuracy drops with CIs. See docs/honesty.md.

The package imports nothing itself, so ``python -m sandwich.honesty.sycophancy`` runs the
module once; import from the submodules.
"""
