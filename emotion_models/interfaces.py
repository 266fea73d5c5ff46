"""The small interfaces the pipeline talks to. Implementations load once per process."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class EmotionClassifier(Protocol):
    """Anything that turns a batch of model inputs into probabilities over `LABELS`.

    Face classifiers take aligned grayscale crops (uint8, the size they declare); voice classifiers
    take 16 kHz mono float32 waveforms in [-1, 1]. The result is (N, 7) float32, rows sum to 1,
    columns in `emotion_models.labels.LABELS` order.
    """

    def predict_batch(self, inputs: Sequence[np.ndarray]) -> np.ndarray: ...
