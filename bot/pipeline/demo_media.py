"""A synthetic call recording from the media the project ships (bot/assets/demo, see its README).

The face is NASA's public-domain portrait of astronaut Eileen Collins (as shipped in scikit-image),
moving slowly across a grey background; the voice is a clip synthesised with espeak-ng. Used by
`emotion-bot demo`, the bench and the tests, which need real faces and real speech but may not
ship or download third-party recordings.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np

from emotion_models.voice.audio import SAMPLE_RATE, load_audio

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets" / "demo"
FACE_IMAGE = ASSETS_DIR / "astronaut.jpg"
SPEECH_CLIP = ASSETS_DIR / "speech.ogg"

# (video codec, audio codec, audio rate) per container extension; None = that stream cannot go there.
_CODECS: dict[str, tuple[str | None, str | None, int]] = {
    ".mp4": ("libx264", "aac", 16000),
    ".mkv": ("libx264", "aac", 16000),
    ".webm": ("libvpx", "libopus", 48000),
    ".wav": (None, "pcm_s16le", 16000),
    ".ogg": (None, "libopus", 48000),
}


@lru_cache(maxsize=1)
def face_image() -> np.ndarray:
    """The shipped portrait as an RGB uint8 array (512x512)."""
    bgr = cv2.imread(str(FACE_IMAGE), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"demo face image missing: {FACE_IMAGE}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@lru_cache(maxsize=1)
def speech() -> np.ndarray:
    """The shipped speech clip, 16 kHz mono float32."""
    return load_audio(SPEECH_CLIP, SAMPLE_RATE)


def speech_pcm(duration_s: float, *, offset_s: float = 0.0) -> np.ndarray:
    """`duration_s` of the speech clip (looped, starting `offset_s` in) as int16."""
    clip = speech()
    n = round(duration_s * SAMPLE_RATE)
    start = round(offset_s * SAMPLE_RATE) % len(clip)
    idx = (start + np.arange(n)) % len(clip)
    return (np.clip(clip[idx], -1.0, 1.0) * 32767).astype(np.int16)


def face_frame(
    t: float, *, width: int = 640, height: int = 480, portrait_side: int = 320, phase: float = 0.0
) -> np.ndarray:
    """An RGB frame at time t: the portrait drifting on a grey background (phase shifts the path)."""
    frame = np.full((height, width, 3), 96, dtype=np.uint8)
    side = min(portrait_side, width, height)
    portrait = cv2.resize(face_image(), (side, side), interpolation=cv2.INTER_AREA)
    x = round((width - side) * (0.5 + 0.45 * math.sin(0.4 * t + phase)))
    y = round((height - side) * (0.5 + 0.45 * math.cos(0.3 * t + phase)))
    frame[y : y + side, x : x + side] = portrait
    return frame


def blank_frame(width: int = 640, height: int = 480) -> np.ndarray:
    return np.full((height, width, 3), 96, dtype=np.uint8)


def write_recording(
    path: Path | str,
    *,
    duration_s: float,
    video: bool = True,
    audio: bool = True,
    fps: int = 15,
    width: int = 640,
    height: int = 480,
    with_face: bool = True,
    with_speech: bool = True,
) -> Path:
    """Write a recording (container from the extension: mp4, mkv, webm, wav, ogg).

    Without `with_face` the video shows only background; without `with_speech` the audio is
    digital silence. Returns the path.
    """
    path = Path(path)
    video_codec, audio_codec, audio_rate = _CODECS[path.suffix.lower()]
    if video and video_codec is None:
        raise ValueError(f"{path.suffix} holds no video")
    with av.open(str(path), mode="w") as container:
        vstream = astream = None
        if video:
            vstream = container.add_stream(video_codec, rate=fps)
            vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        if audio:
            astream = container.add_stream(audio_codec, rate=audio_rate, layout="mono")
        if vstream is not None:
            for i in range(round(duration_s * fps)):
                t = i / fps
                rgb = face_frame(t, width=width, height=height) if with_face else blank_frame(width, height)
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, fps)
                container.mux(vstream.encode(frame))
            container.mux(vstream.encode(None))
        if astream is not None:
            pcm = (
                speech_pcm(duration_s) if with_speech else np.zeros(round(duration_s * SAMPLE_RATE), np.int16)
            )
            step = SAMPLE_RATE // 10
            for start in range(0, len(pcm), step):
                chunk = pcm[start : start + step]
                frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
                frame.sample_rate = SAMPLE_RATE
                frame.pts, frame.time_base = start, Fraction(1, SAMPLE_RATE)
                container.mux(astream.encode(frame))
            container.mux(astream.encode(None))
    return path
