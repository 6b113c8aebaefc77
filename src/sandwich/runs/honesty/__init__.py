"""The ``honesty`` experiment kind: the sycophancy eval of :mod:`sandwich.honesty` run from a
config's ``honesty:`` section (docs/honesty.md). ``schema`` is light (pydantic only);
``kind`` is the implementation. This module imports neither."""
