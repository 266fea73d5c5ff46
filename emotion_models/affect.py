"""Valence and arousal derived from the 7 class probabilities.

Each basic emotion is placed on Russell's circumplex (valence = unpleasant..pleasant, arousal =
calm..activated, both in [-1, 1]) using the category centroids reported for acted basic emotions
(Russell 1980; Hepach et al. 2011 place e.g. anger high-arousal negative, sadness low-arousal
negative). A probability vector maps to the expectation of those coordinates, so an uncertain face
stays near the origin instead of jumping between corners.
"""

from __future__ import annotations

import numpy as np

from emotion_models.labels import LABELS

# label: (valence, arousal)
AFFECT_COORDINATES: dict[str, tuple[float, float]] = {
    "angry": (-0.6, 0.7),
    "disgust": (-0.7, 0.3),
    "fear": (-0.6, 0.6),
    "happy": (0.8, 0.5),
    "sad": (-0.7, -0.4),
    "surprise": (0.2, 0.8),
    "neutral": (0.0, 0.0),
}
_COORDS = np.array([AFFECT_COORDINATES[name] for name in LABELS], dtype=np.float32)  # (7, 2)

NEGATIVE_LABELS: frozenset[str] = frozenset({"angry", "disgust", "fear", "sad"})


def valence_arousal(probabilities: np.ndarray) -> np.ndarray:
    """(..., 7) probabilities -> (..., 2) expected (valence, arousal)."""
    return np.asarray(probabilities, dtype=np.float32) @ _COORDS
