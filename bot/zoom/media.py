"""Zoom media payloads to pipeline input: L16 audio to int16 PCM, a JPG to an RGB frame.

Both reject what they cannot use with `BadMedia` (the caller counts and skips it). Nothing here is
ever written anywhere: the decoded media lives only until the pipeline has analysed it.
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_FRAME_PIXELS = 1920 * 1080  # FHD is the largest resolution we could have asked for
MAX_AUDIO_BYTES = 32_000 * 2  # 2 s of 16 kHz int16: Zoom's longest send_rate is 1 s


class BadMedia(ValueError):
    """`str(exc)` is a short reason code used as a counter key."""


def l16_to_pcm(data: bytes) -> np.ndarray:
    """Little-endian signed 16-bit samples (L16 as Zoom's raw audio carries it) -> int16 array."""
    if not data:
        raise BadMedia("empty_audio")
    if len(data) % 2:
        raise BadMedia("odd_length_audio")
    if len(data) > MAX_AUDIO_BYTES:
        raise BadMedia("oversized_audio")
    return np.frombuffer(data, dtype="<i2").astype(np.int16)  # a copy the pipeline may keep


def jpg_to_rgb(data: bytes) -> np.ndarray:
    """Decode one JPG (or PNG) frame to HxWx3 uint8 RGB."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR) if buffer.size else None
    if bgr is None or bgr.ndim != 3:
        raise BadMedia("undecodable_jpg")
    if bgr.shape[0] * bgr.shape[1] > MAX_FRAME_PIXELS:
        raise BadMedia("oversized_frame")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def rgb_to_jpg(rgb: np.ndarray, quality: int = 85) -> bytes:
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise BadMedia("unencodable_frame")
    return encoded.tobytes()
