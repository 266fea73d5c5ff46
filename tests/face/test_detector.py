from __future__ import annotations

import hashlib
import shutil

import cv2
import numpy as np
import pytest

from emotion_models.face import detector as detector_module
from emotion_models.face.detector import DETECTOR_MODEL, DETECTOR_SHA256, FaceDetector
from emotion_models.model_files import ModelFileError
from tests.face.conftest import ASTRONAUT_FACE, paste_head


def test_shipped_model_matches_recorded_hash():
    assert hashlib.sha256(DETECTOR_MODEL.read_bytes()).hexdigest() == DETECTOR_SHA256


def test_finds_the_astronaut_face_with_keypoints(detector, astronaut):
    faces = detector.detect(astronaut)
    assert len(faces) == 1
    face = faces[0]
    x, y, w, _ = ASTRONAUT_FACE
    assert abs(face.x - x) < 10 and abs(face.y - y) < 10 and abs(face.width - w) < 15
    assert face.score > 0.8
    assert face.keypoints.shape == (6, 2)
    right_eye, left_eye, nose, mouth = face.keypoints[:4]
    # Frontal face: subject's right eye on the image's left, eyes above nose above mouth.
    assert right_eye[0] < nose[0] < left_eye[0]
    assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]
    assert face.x <= nose[0] <= face.x + face.width and face.y <= nose[1] <= face.y + face.height


def test_no_face_in_coffee(detector, coffee):
    assert detector.detect(coffee) == []


def test_small_face_found_only_with_tiling(astronaut):
    background = np.full((480, 640, 3), 90, np.uint8)
    frame = paste_head(background, astronaut, face_px=60, x=300, y=200)
    with FaceDetector(tile_small_faces=False) as whole_frame_only:
        assert whole_frame_only.detect(frame) == []
    with FaceDetector() as tiled:
        faces = tiled.detect(frame)
    assert len(faces) == 1
    assert abs(faces[0].x - 300) < 12 and abs(faces[0].y - 200) < 12


def test_search_near_the_previous_face_first_then_everywhere(detector, astronaut):
    background = np.full((480, 640, 3), 90, np.uint8)
    first = detector.detect(paste_head(background, astronaut, face_px=60, x=300, y=200))[0]
    # The head moved a little: found in the square around the previous face, same place as a full search.
    moved = paste_head(background, astronaut, face_px=60, x=320, y=210)
    tracked = detector.detect(moved, near=first)
    assert len(tracked) == 1 and tracked[0].iou(detector.detect(moved)[0]) > 0.6
    # The head jumped across the frame: the square is empty, so the full search finds it.
    jumped = paste_head(background, astronaut, face_px=60, x=60, y=60)
    found = detector.detect(jumped, near=first)
    assert len(found) == 1 and abs(found[0].x - 60) < 12 and abs(found[0].y - 60) < 12


def test_tiny_frame_and_small_face(detector, astronaut):
    frame = paste_head(np.full((180, 320, 3), 90, np.uint8), astronaut, face_px=45, x=200, y=60)
    faces = detector.detect(frame)
    assert len(faces) == 1 and 30 < faces[0].width < 65


def test_largest_face_first(detector, astronaut):
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame = paste_head(frame, astronaut, face_px=90, x=80, y=120)
    frame = paste_head(frame, astronaut, face_px=150, x=380, y=150)
    faces = detector.detect(frame)
    assert len(faces) == 2
    assert faces[0].width > faces[1].width
    assert faces[0].x > 300 > faces[1].x


def test_any_frame_size_up_to_720p(detector, astronaut):
    frame = cv2.resize(astronaut, (1280, 720))
    faces = detector.detect(frame)
    assert len(faces) >= 1 and faces[0].score > 0.5


def test_rejects_non_rgb_input(detector):
    with pytest.raises(ValueError, match="RGB"):
        detector.detect(np.zeros((48, 48), np.uint8))
    with pytest.raises(ValueError, match="RGB"):
        detector.detect(np.zeros((48, 48, 3), np.float32))


def test_corrupt_shipped_model_is_a_clear_error(tmp_path, monkeypatch):
    corrupt = tmp_path / DETECTOR_MODEL.name
    shutil.copy(DETECTOR_MODEL, corrupt)
    data = bytearray(corrupt.read_bytes())
    data[1000] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    monkeypatch.setattr(detector_module, "DETECTOR_MODEL", corrupt)
    with pytest.raises(ModelFileError, match="sha256"):
        FaceDetector()


def test_missing_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(detector_module, "DETECTOR_MODEL", tmp_path / "gone.tflite")
    with pytest.raises(ModelFileError, match="missing"):
        FaceDetector()


def test_unloadable_custom_model_is_a_clear_error(tmp_path):
    bogus = tmp_path / "bogus.tflite"
    bogus.write_bytes(b"not a flatbuffer" * 10)
    with pytest.raises(ModelFileError, match="cannot load"):
        FaceDetector(model_path=bogus)


def test_closed_detector_refuses_work(astronaut):
    det = FaceDetector()
    det.close()
    det.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        det.detect(astronaut)
