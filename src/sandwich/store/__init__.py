"""Content-addressed artifact store shared by all runs (``$SANDWICH_HOME``)."""

from sandwich.store.artifacts import ArtifactKey, ArtifactStore, CorruptArtifact, default_home

__all__ = ["ArtifactKey", "ArtifactStore", "CorruptArtifact", "default_home"]
