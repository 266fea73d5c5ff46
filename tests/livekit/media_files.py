"""Small media files for the LiveKit tests, written with PyAV (no data set needed)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def face_image(width: int = 320, height: int = 240) -> np.ndarray:
    """A real photographed face (scikit-image's astronaut), letterboxed to width x height RGB."""
    from skimage import data, transform

    image = data.astronaut()[:260, 100:380]  # the face and shoulders
    scale = min(width / image.shape[1], height / image.shape[0])
    resized = transform.resize(image, (int(image.shape[0] * scale), int(image.shape[1] * scale)))
    canvas = np.zeros((height, width, 3), np.uint8)
    y = (height - resized.shape[0]) // 2
    x = (width - resized.shape[1]) // 2
    canvas[y : y + resized.shape[0], x : x + resized.shape[1]] = (resized * 255).astype(np.uint8)
    return canvas


def voiced_signal(seconds: float, rate: int = 16000) -> np.ndarray:
    """Speech-like int16: a gliding harmonic tone in syllable-sized bursts with pauses."""
    t = np.arange(int(seconds * rate)) / rate
    f0 = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    tone = sum(np.sin(k * phase) / k for k in range(1, 6))
    envelope = (np.sin(2 * np.pi * 2.5 * t) > -0.2).astype(float) * (np.sin(2 * np.pi * 0.25 * t) > -0.5)
    return (0.3 * 32767 * tone / 2.3 * envelope).astype(np.int16)


def write_media(
    path: Path, *, seconds: float = 2.0, video: bool = True, audio: bool = True, fps: int = 15
) -> Path:
    """An mp4 (H.264 + AAC) or, without video, a WAV-in-Matroska audio file."""
    with av.open(str(path), "w") as container:
        vstream = astream = None
        if video:
            vstream = container.add_stream("libx264", rate=fps)
            vstream.width, vstream.height, vstream.pix_fmt = 320, 240, "yuv420p"
        if audio:
            astream = container.add_stream("aac", rate=16000)
            astream.layout = "mono"
        if vstream is not None:
            image = face_image()
            for i in range(int(seconds * fps)):
                shifted = np.roll(image, (i % 10) - 5, axis=1)
                frame = av.VideoFrame.from_ndarray(shifted, format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, fps)
                container.mux(vstream.encode(frame))
            container.mux(vstream.encode())
        if astream is not None:
            pcm = voiced_signal(seconds)
            chunk = 1024
            for i in range(0, len(pcm), chunk):
                part = pcm[i : i + chunk]
                frame = av.AudioFrame.from_ndarray(part.reshape(1, -1), format="s16", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = 16000, i, Fraction(1, 16000)
                container.mux(astream.encode(frame))
            container.mux(astream.encode())
    return path
