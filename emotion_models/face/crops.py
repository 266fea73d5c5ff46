"""Frame -> aligned face crops: the detector and the aligner composed, as every consumer needs them."""

from __future__ import annotations

import numpy as np

from emotion_models.face.align import align_face
from emotion_models.face.detector import FaceBox, FaceDetector


def face_crops(
    detector: FaceDetector, rgb: np.ndarray, size: int, all_faces: bool = False
) -> list[tuple[FaceBox, np.ndarray]]:
    """Detected faces with their aligned crops, largest first.

    By default only the largest face is returned: in a meeting tile that is the participant, and
    people passing behind them must not be scored as the participant.
    """
    faces = detector.detect(rgb)
    if not all_faces:
        faces = faces[:1]
    return [(face, align_face(rgb, face, size)) for face in faces]
