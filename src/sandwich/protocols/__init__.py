"""Scalable-oversight protocols: a judge assisted by stronger models.

Listed lazily in :data:`PROTOCOLS`: ``naive``, ``consultancy``, ``debate``,
``critique``. :func:`run_protocol` runs one on items (both answer orders) and
returns :class:`TranscriptRecord` s; :class:`Judge` reads verdicts.
"""

from sandwich.protocols.base import GenParams, OversightProtocol, Speaker, Turn
from sandwich.protocols.judge import Judge, JudgeInput, JudgeVerdict, parse_letter
from sandwich.protocols.registry import PROTOCOLS
from sandwich.protocols.runner import run_protocol
from sandwich.protocols.transcripts import TranscriptRecord, read_transcripts, write_transcripts

__all__ = [
    "PROTOCOLS",
    "GenParams",
    "Judge",
    "JudgeInput",
    "JudgeVerdict",
    "OversightProtocol",
    "Speaker",
    "TranscriptRecord",
    "Turn",
    "parse_letter",
    "read_transcripts",
    "run_protocol",
    "write_transcripts",
]
