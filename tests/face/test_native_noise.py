"""mediapipe/LiteRT's C++ INFO chatter stays off stderr; real native warnings still get through."""

from __future__ import annotations

import os
import subprocess
import sys

from emotion_models.native_log import filtered_native_stderr, is_native_noise

LOAD_DETECT_CLOSE = """
import numpy as np
from emotion_models.face.detector import FaceDetector
detector = FaceDetector()
detector.detect(np.zeros((480, 640, 3), np.uint8))
detector.detect(np.zeros((240, 320, 3), np.uint8))
detector.close()
print("done")
"""

NOISE_MARKERS = (
    "INFO: ",
    "XNNPACK",
    "LiteRT environment",
    "Logging before InitGoogle",
    "Input tensor memory is not aligned",
    "DestroyAccelerator",
)


def test_loading_and_using_the_face_detector_prints_nothing_on_stderr():
    done = subprocess.run(
        [sys.executable, "-c", LOAD_DETECT_CLOSE], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "done"
    noisy = [line for line in done.stderr.splitlines() if any(m in line for m in NOISE_MARKERS)]
    assert not noisy, done.stderr
    assert done.stderr.strip() == "", done.stderr


def test_the_filter_keeps_real_native_warnings_and_python_output(capfd):
    with filtered_native_stderr():
        os.write(2, b"INFO: [environment.cc:36] Creating LiteRT environment with options\n")
        os.write(2, b"E0000 00:00:1.0   1 graph.cc:1] a real native error\n")
        print("written from python", file=sys.stderr)
        os.write(2, b"W0000 00:00:1.0   1 x.cc:2] a real native warning\n")
    lines = capfd.readouterr().err.splitlines()
    # (under pytest, sys.stderr is not fd 2, so Python's line may come first)
    assert [line for line in lines if line != "written from python"] == [
        "E0000 00:00:1.0   1 graph.cc:1] a real native error",
        "W0000 00:00:1.0   1 x.cc:2] a real native warning",
    ]
    assert "written from python" in lines


def test_noise_patterns_are_narrow():
    assert is_native_noise("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    assert is_native_noise("WARNING: Logging before InitGoogle() is written to STDERR\n")
    assert not is_native_noise("WARNING: something else\n")
    assert not is_native_noise("E0000 00:00:1.0 1 x.cc:1] Input tensor memory is not aligned\n")
