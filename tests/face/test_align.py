from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from emotion_models.face.align import ANCHOR, EYE_DISTANCE, align_face, alignment_matrix


def _to_crop(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def _rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REPLICATE)


def test_crop_has_fer_geometry(detector, astronaut):
    face = detector.detect(astronaut)[0]
    crop = align_face(astronaut, face, size=48)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    kp = _to_crop(alignment_matrix(face, 48), face.keypoints)
    right_eye, left_eye, _, mouth = kp[:4]
    assert abs(right_eye[1] - left_eye[1]) < 0.5  # level
    eye_distance = np.hypot(*(left_eye - right_eye)) / 48
    midpoint = ((right_eye + left_eye) / 2 + mouth) / 2 / 48
    # The face size is the larger of two estimates, so the eye distance is at most the canonical one.
    assert 0.8 * EYE_DISTANCE < eye_distance <= EYE_DISTANCE + 1e-6
    np.testing.assert_allclose(midpoint, ANCHOR, atol=1e-6)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    # Blurred first: keypoints jitter by a few pixels, and this compares faces, not pixel texture.
    a, b = (cv2.GaussianBlur(x.astype(np.float32), (0, 0), 1.5).ravel() for x in (a, b))
    return float(np.corrcoef(a, b)[0, 1])


def test_rotated_face_comes_out_level_and_alike(detector, astronaut):
    upright = detector.detect(astronaut)[0]
    reference = align_face(astronaut, upright)
    for degrees in (-25, 20):
        rotated = _rotate(astronaut, degrees)
        face = detector.detect(rotated)[0]
        right_eye, left_eye = face.keypoints[:2]
        assert abs(right_eye[1] - left_eye[1]) > 5  # the detector sees tilted eyes...
        kp = _to_crop(alignment_matrix(face, 40), face.keypoints)
        assert abs(kp[0, 1] - kp[1, 1]) < 0.5  # ...and the crop levels them
        corr = _correlation(align_face(rotated, face), reference)
        assert corr > 0.85, f"{degrees} deg: crop correlates {corr:.3f} with the upright crop"
        # Control: the same frame cropped without the rotated face's geometry does not look alike.
        assert _correlation(align_face(rotated, upright), reference) < 0.5


def test_large_face_is_area_averaged_not_aliased(detector, astronaut):
    # The same face 4x larger must give the same crop: the warp goes through an intermediate size and
    # area-averages down, where direct bilinear sampling would skip pixels and alias.
    face = detector.detect(astronaut)[0]
    big = cv2.resize(astronaut, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    big_face = dataclasses.replace(
        face,
        x=face.x * 4,
        y=face.y * 4,
        width=face.width * 4,
        height=face.height * 4,
        keypoints=face.keypoints * 4 + 1.5,  # pixel centres: x_big = 4 * x + 1.5
    )
    small_crop = align_face(astronaut, face).astype(np.float32)
    big_crop = align_face(big, big_face).astype(np.float32)
    assert np.abs(small_crop - big_crop).mean() < 4


def test_face_at_frame_edge_still_gives_a_full_crop(detector, astronaut):
    face = detector.detect(astronaut)[0]
    cut = np.ascontiguousarray(astronaut[:, int(face.x + face.width * 0.3) :])
    faces = detector.detect(cut)
    if faces:  # half faces may or may not be detected; when they are, the crop is still well formed
        assert align_face(cut, faces[0]).shape == (40, 40)
