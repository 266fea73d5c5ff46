"""Cut leading and trailing silence and digital padding off an utterance before any feature sees it.

Why: in ASED the clip length and the zero padding at the end follow the label (every happy clip is
2.9 s, most fear clips 3.9 s), and EmoDB's copy is padded to exactly 2.0 s. Features pooled over
all frames (the voice encoders' means, the statistics' active fraction and pause rate) would learn
the padding instead of the voice. The live pipeline gives the classifier VAD segments, which hold
little edge silence already, so trimming costs nothing there and makes training see what run time
sees. Training and run time call the same function (the frontend version names it).

Rule: frames of 25 ms every 10 ms; keep from the first to the last frame whose RMS is within
TRIM_RANGE_DB of the loudest frame and above TRIM_FLOOR_DBFS, plus TRIM_MARGIN_S either side.
"""

from __future__ import annotations

import numpy as np

from emotion_models.voice.audio import SAMPLE_RATE

TRIM_VERSION = "trim-edges-v1"  # part of the classifier's front-end version
TRIM_FRAME = 400  # 25 ms
TRIM_HOP = 160  # 10 ms
TRIM_RANGE_DB = 40.0
TRIM_FLOOR_DBFS = -60.0  # quieter frames are silence whatever the clip's level
TRIM_MARGIN_S = 0.05
MIN_KEEP = TRIM_FRAME  # never return less than one frame


def speech_bounds(wave: np.ndarray) -> tuple[int, int]:
    """(start, end) sample indices of the part of `wave` to keep (the whole wave if no frame passes)."""
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    if wave.size <= MIN_KEEP:
        return 0, wave.size
    frames = np.lib.stride_tricks.sliding_window_view(wave, TRIM_FRAME)[::TRIM_HOP]
    rms_db = 10.0 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    threshold = max(float(rms_db.max()) - TRIM_RANGE_DB, TRIM_FLOOR_DBFS)
    loud = np.flatnonzero(rms_db >= threshold)
    if loud.size == 0:
        return 0, wave.size
    margin = int(TRIM_MARGIN_S * SAMPLE_RATE)
    start = max(0, int(loud[0]) * TRIM_HOP - margin)
    end = min(wave.size, int(loud[-1]) * TRIM_HOP + TRIM_FRAME + margin)
    if end - start < MIN_KEEP:
        end = min(wave.size, start + MIN_KEEP)
    return start, end


def trim_silence(wave: np.ndarray) -> np.ndarray:
    """The utterance without its leading/trailing silence and zero padding (float32, 16 kHz)."""
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    start, end = speech_bounds(wave)
    return wave[start:end]
