"""Turn a detected face into the classifier's input: a level, FER2013-like grayscale crop.

The target geometry was measured, not guessed: mediapipe keypoints on 1,448 FER2013 training crops
(medians, in fractions of the crop side) put the eye centre at (0.504, 0.398), the eyes 0.363
apart and the mouth 0.391 below the eye centre, i.e. a tight forehead-to-chin crop. Matching that
geometry at run time is what lets a model trained on FER2013 see familiar faces.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from emotion_models.face.detector import FaceBox

EYE_DISTANCE = 0.363
EYE_TO_MOUTH = 0.391
# The crop is anchored on the point halfway between eye centre and mouth, the most stable point
# under head turns (both move together).
ANCHOR = (0.5045, 0.588)
# Largest intermediate crop, in multiples of the output side (bounds the cost for huge faces).
MAX_SUPERSAMPLING = 8


def alignment_matrix(face: FaceBox, size: int) -> np.ndarray:
    """2x3 affine map from frame pixels to crop pixels: rotation (eyes level), scale, translation."""
    right_eye, left_eye, _, mouth = face.keypoints[:4].astype(np.float64)
    eye_centre = (right_eye + left_eye) / 2
    eye_vec = left_eye - right_eye
    angle = math.atan2(eye_vec[1], eye_vec[0])
    # Face size from whichever distance foreshortens less: eye distance shrinks when the head turns,
    # eye-to-mouth when it nods; the larger estimate is the one less affected.
    unit = max(
        float(np.hypot(*eye_vec)) / EYE_DISTANCE,
        float(np.hypot(*(mouth - eye_centre))) / EYE_TO_MOUTH,
        1e-6,
    )
    scale = size / unit
    cos, sin = math.cos(-angle) * scale, math.sin(-angle) * scale
    rot = np.array([[cos, -sin], [sin, cos]])
    anchor = (eye_centre + mouth) / 2
    shift = np.array(ANCHOR) * size - rot @ anchor
    return np.hstack([rot, shift[:, None]])


def align_face(rgb: np.ndarray, face: FaceBox, size: int = 40) -> np.ndarray:
    """(size, size) uint8 grayscale crop of face from an HxWx3 uint8 RGB frame, eyes level."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB frame, got shape {rgb.shape} dtype {rgb.dtype}")
    matrix = alignment_matrix(face, size)
    shrink = 1.0 / math.hypot(matrix[0, 0], matrix[1, 0])  # frame pixels per crop pixel
    # Bilinear warping that shrinks skips pixels and aliases; warp to an intermediate crop at about
    # the face's own resolution instead, then area-average down to size.
    factor = max(1, min(math.ceil(shrink - 0.05), MAX_SUPERSAMPLING))
    inter = size * factor
    crop = cv2.warpAffine(
        rgb, matrix * factor, (inter, inter), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    if factor > 1:
        gray = cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA)
    return gray
