"""Classifier outputs -> Observation records (derived scores only; the media is not kept)."""

from __future__ import annotations

import math

import numpy as np

from bot.pipeline.engine import FaceResult
from emotion_models.labels import LABELS
from storage.records import Observation

SILENCE_DB = -120.0


def _scores(probabilities: np.ndarray) -> tuple[tuple[float, ...], str, float]:
    probs = np.asarray(probabilities, dtype=np.float64)
    probs = probs / probs.sum()
    top = int(np.argmax(probs))
    return tuple(float(p) for p in probs), LABELS[top], float(probs[top])


def face_observation(identity: str, t: float, face: FaceResult, captured: float) -> Observation:
    """A sampled face is an instant: t_start == t_end == the frame's media time."""
    probabilities, top_label, confidence = _scores(face.probabilities)
    return Observation(
        participant_identity=identity,
        modality="face",
        t_start=t,
        t_end=t,
        probabilities=probabilities,
        top_label=top_label,
        confidence=confidence,
        face_size=float(max(face.box.width, face.box.height)),
        captured_at=captured,
    )


def speech_level_db(samples: np.ndarray) -> float:
    """RMS level of float samples in dBFS (full scale = 1.0)."""
    rms = math.sqrt(float(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0
    return max(SILENCE_DB, 20.0 * math.log10(rms)) if rms > 0 else SILENCE_DB


def voice_observation(
    identity: str,
    t_start: float,
    t_end: float,
    samples: np.ndarray,
    probabilities: np.ndarray,
    captured: float,
) -> Observation:
    probs, top_label, confidence = _scores(probabilities)
    return Observation(
        participant_identity=identity,
        modality="voice",
        t_start=t_start,
        t_end=t_end,
        probabilities=probs,
        top_label=top_label,
        confidence=confidence,
        speech_level_db=speech_level_db(samples),
        captured_at=captured,
    )
