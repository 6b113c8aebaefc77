"""Content-addressed artifact store shared by all runs (``$SANDWICH_HOME``)."""

from sandwich.store.artifacts import ArtifactKey, ArtifactStore, CorruptArtifact, default_home
from sandwich.store.atomic import atomic_write_text

__all__ = ["ArtifactKey", "ArtifactStore", "CorruptArtifact", "atomic_write_text", "default_home"]
