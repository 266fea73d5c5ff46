"""Plain records that flow from the pipeline to storage. They hold derived scores only, never media."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Modality = Literal["face", "voice"]
ParticipantKind = Literal["standard", "sip"]


@dataclass(frozen=True, slots=True)
class Observation:
    """One classifier result for one participant: a sampled face or a speech segment."""

    participant_identity: str
    modality: Modality
    t_start: float  # seconds since call start (media time)
    t_end: float
    probabilities: tuple[float, ...]  # 7 values in LABELS order, sum to 1
    top_label: str
    confidence: float  # probability of top_label
    face_size: float | None = None  # face box side in pixels (face only)
    speech_level_db: float | None = None  # segment RMS in dBFS (voice only)
    captured_at: float = 0.0  # wall-clock time.monotonic() when the media arrived (latency metric)


@dataclass(frozen=True, slots=True)
class FusedPoint:
    """The smoothed face+voice estimate of one participant at one moment."""

    participant_identity: str
    t: float
    probabilities: tuple[float, ...]
    top_label: str
    valence: float
    arousal: float
    sources: tuple[Modality, ...] = field(default=())
