"""The ``truth`` experiment kind: lie detectors (truth reporters) trained on one task and
scored on every other, at several layers. Light: importing the package imports neither
the schema's dependencies beyond pydantic nor the implementation (``kind.py``)."""
