"""Shared real model instances and test images (scikit-image ships astronaut and coffee in its wheel)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from emotion_models.face.classifier import FaceEmotionClassifier
from emotion_models.face.detector import FaceDetector
from emotion_models.labels import LABELS

# Where mediapipe's short-range model puts the astronaut's face (x, y, w, h), measured once.
ASTRONAUT_FACE = (177, 82, 95, 95)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return skimage.data.astronaut()


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    return skimage.data.coffee()


@pytest.fixture(scope="module")
def detector() -> Iterator[FaceDetector]:
    with FaceDetector() as det:
        yield det


@pytest.fixture(scope="session")
def classifier() -> FaceEmotionClassifier:
    return FaceEmotionClassifier.load()


def paste_head(background: np.ndarray, astronaut: np.ndarray, face_px: int, x: int, y: int) -> np.ndarray:
    """background with the astronaut's head pasted so that its face box is face_px wide at (x, y)."""
    fx, fy, fw, _ = ASTRONAUT_FACE
    margin = fw // 2
    head = astronaut[fy - margin : fy + fw + margin, fx - margin : fx + fw + margin]
    scale = face_px / fw
    head = cv2.resize(head, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    out = background.copy()
    top, left = y - round(margin * scale), x - round(margin * scale)
    out[top : top + head.shape[0], left : left + head.shape[1]] = head
    return out


def write_face_dataset(root: Path, per_label: int, seed: int) -> None:
    """A tiny `<label>/<image>` folder of 48x48 crops a training run can actually learn from."""
    rng = np.random.default_rng(seed)
    for i, label in enumerate(LABELS):
        folder = root / label
        folder.mkdir(parents=True)
        for j in range(per_label):
            # A class-dependent gradient plus noise: learnable, so the loss is meaningful.
            base = np.linspace(0, 255, 48)[None, :] * (i + 1) / len(LABELS)
            image = np.clip(base + rng.normal(0, 20, (48, 48)), 0, 255).astype(np.uint8)
            cv2.imwrite(str(folder / f"actor{j % 2}__img{j}.png"), image)
