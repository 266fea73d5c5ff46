"""Smoothing and fusion math, and valence/arousal of the fused estimate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bot.pipeline.observations import speech_level_db
from bot.pipeline.smoother import MIN_WEIGHT, Smoother
from emotion_models.affect import AFFECT_COORDINATES
from emotion_models.labels import LABEL_INDEX, LABELS
from storage.records import Observation


def one_hot(label: str, confidence: float = 1.0) -> tuple[float, ...]:
    rest = (1.0 - confidence) / (len(LABELS) - 1)
    return tuple(confidence if name == label else rest for name in LABELS)


def obs(
    modality: str, t: float, label: str, confidence: float = 1.0, t_start: float | None = None
) -> Observation:
    probs = one_hot(label, confidence)
    return Observation("p", modality, t if t_start is None else t_start, t, probs, label, confidence)


def test_first_observation_is_the_estimate_and_maps_to_the_circumplex():
    point = Smoother("p").update(obs("face", 1.0, "happy"))
    assert point.top_label == "happy" and point.sources == ("face",)
    assert point.probabilities == pytest.approx(one_hot("happy"))
    assert (point.valence, point.arousal) == pytest.approx(AFFECT_COORDINATES["happy"])


def test_exponential_weight_follows_the_time_constant():
    smoother = Smoother("p", face_tau_s=2.0)
    smoother.update(obs("face", 0.0, "neutral"))
    point = smoother.update(obs("face", 2.0, "angry"))
    weight = 1 - math.exp(-1.0)  # dt == tau
    assert point.probabilities[LABEL_INDEX["angry"]] == pytest.approx(weight)
    assert point.probabilities[LABEL_INDEX["neutral"]] == pytest.approx(1 - weight)


def test_simultaneous_observations_still_count():
    smoother = Smoother("p")
    smoother.update(obs("face", 1.0, "neutral"))
    point = smoother.update(obs("face", 1.0, "sad"))
    assert point.probabilities[LABEL_INDEX["sad"]] == pytest.approx(MIN_WEIGHT)


def test_fusion_is_confidence_weighted_when_both_are_recent():
    smoother = Smoother("p", face_tau_s=2.0, voice_tau_s=4.0)
    smoother.update(obs("face", 10.0, "happy", confidence=0.9))
    point = smoother.update(obs("voice", 10.0, "sad", confidence=0.6, t_start=8.0))
    w_face, w_voice = 0.9, 0.6  # both observed at t=10: no decay
    expected = (w_face * np.array(one_hot("happy", 0.9)) + w_voice * np.array(one_hot("sad", 0.6))) / (
        w_face + w_voice
    )
    assert point.sources == ("face", "voice")
    assert point.probabilities == pytest.approx(tuple(expected))
    coords = np.array([AFFECT_COORDINATES[name] for name in LABELS])
    assert (point.valence, point.arousal) == pytest.approx(tuple(expected @ coords), abs=1e-6)


def test_older_modality_decays_then_leaves_the_fusion():
    smoother = Smoother("p", face_tau_s=2.0, voice_tau_s=4.0, stale_after_tau=3.0)
    smoother.update(obs("voice", 0.0, "angry"))
    recent = smoother.update(obs("face", 4.0, "happy"))
    w_voice = math.exp(-4.0 / 4.0)
    assert recent.sources == ("face", "voice")
    assert recent.probabilities[LABEL_INDEX["happy"]] == pytest.approx(1 / (1 + w_voice))
    stale = smoother.update(obs("face", 12.5, "happy"))  # voice is 12.5 s old > 3 * 4 s
    assert stale.sources == ("face",)
    assert stale.top_label == "happy"


def test_speech_level_in_dbfs():
    assert speech_level_db(np.full(1600, 0.5, np.float32)) == pytest.approx(20 * math.log10(0.5))
    assert speech_level_db(np.zeros(1600, np.float32)) == -120.0
