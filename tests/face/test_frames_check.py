"""The run-time-path check: crops turned into frames go through the real detector and models."""

from __future__ import annotations

import json

import cv2
import numpy as np

from emotion_models.face.classifier import FACE_MODEL
from tests.face.conftest import ASTRONAUT_FACE
from training.face import frames_check


def test_as_frame_centres_the_crop_and_scales_it():
    crop = np.full((48, 48), 7, dtype=np.uint8)
    crop[20:28, 20:28] = 200
    frame = frames_check.as_frame(crop, pad=0.5, scale=4)
    assert frame.shape == (384, 384, 3)
    assert frame[192, 192].tolist() == [200, 200, 200] and frame[5, 5].tolist() == [7, 7, 7]


def test_face_found_blank_missed_and_misses_count_as_wrong(tmp_path, astronaut, capsys):
    x, y, w, h = ASTRONAUT_FACE
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    face = cv2.resize(gray[y - h // 4 : y + h + h // 4, x - w // 4 : x + w + w // 4], (48, 48))
    (tmp_path / "happy").mkdir()
    (tmp_path / "sad").mkdir()
    cv2.imwrite(str(tmp_path / "happy" / "astronaut.png"), face)
    cv2.imwrite(str(tmp_path / "sad" / "blank.png"), np.full((48, 48), 128, dtype=np.uint8))
    (tmp_path / "sad" / "broken.png").write_bytes(b"not an image")

    frames_check.main(["--data", str(tmp_path), "--model", str(FACE_MODEL)])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] == 2 and result["skipped"] == {"unreadable": 1}
    assert result["detection_rate"] == 0.5
    scores = result["models"][str(FACE_MODEL)]
    assert scores["frames_misses_wrong"]["accuracy"] <= 0.5  # the blank frame is always wrong
    assert scores["detected_faces"]["accuracy"] in (0.0, 1.0)
