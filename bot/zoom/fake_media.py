"""Files to what the fake RTMS server sends: 16 kHz int16 audio and SD JPG frames.

A participant's FILE is an image (jpg/png: that face in every frame), an audio file (voice only,
camera off), a video file (its frames and sound, decoded with PyAV), or IMAGE+AUDIO. Frames are
placed on a 640x360 canvas (Zoom's SD) and at most `max_frames` are kept (then looped), so a long
file does not fill memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from bot.zoom.media import rgb_to_jpg

SD_SIZE = (640, 360)
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
AUDIO_SUFFIXES = frozenset({".wav", ".ogg", ".flac", ".mp3", ".opus"})


class MediaFileError(ValueError):
    pass


@dataclass(frozen=True)
class ParticipantMedia:
    audio: np.ndarray | None  # int16 16 kHz mono
    frames: tuple[bytes, ...]  # JPG


def on_canvas(rgb: np.ndarray, size: tuple[int, int] = SD_SIZE) -> np.ndarray:
    """`rgb` scaled to fit a grey SD canvas, centred (a webcam tile's shape)."""
    width, height = size
    scale = min(width / rgb.shape[1], height / rgb.shape[0])
    resized = cv2.resize(rgb, (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))))
    canvas = np.full((height, width, 3), 96, dtype=np.uint8)
    y, x = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    canvas[y : y + resized.shape[0], x : x + resized.shape[1]] = resized
    return canvas


def image_frames(path: Path) -> tuple[bytes, ...]:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise MediaFileError(f"{path}: not a readable image")
    return (rgb_to_jpg(on_canvas(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))),)


def audio_pcm(path: Path) -> np.ndarray:
    from emotion_models.voice.audio import load_audio

    try:
        wave = load_audio(path, 16_000)
    except Exception as exc:  # soundfile's errors vary by format
        raise MediaFileError(f"{path}: not readable audio ({exc})") from exc
    return np.clip(np.round(wave * 32767.0), -32768, 32767).astype(np.int16)


def video_media(path: Path, *, fps: float, max_frames: int) -> ParticipantMedia:
    from bot.pipeline.sources.file import AudioSample, DecodeReport, MediaError, VideoSample, decode, probe

    try:
        info = probe(path)
    except MediaError as exc:
        raise MediaFileError(str(exc)) from exc
    frames: list[bytes] = []
    audio: list[np.ndarray] = []
    for sample in decode(info, video_fps=fps, report=DecodeReport()):
        if isinstance(sample, VideoSample) and len(frames) < max_frames:
            frames.append(rgb_to_jpg(on_canvas(sample.rgb)))
        elif isinstance(sample, AudioSample):
            audio.append(sample.pcm)
    return ParticipantMedia(np.concatenate(audio) if audio else None, tuple(frames))


def load_participant_media(spec: str, *, fps: float = 2.0, max_frames: int = 120) -> ParticipantMedia:
    parts = [Path(p) for p in spec.split("+")]
    for part in parts:
        if not part.is_file():
            raise MediaFileError(f"{part}: no such file")
    if len(parts) == 2 and parts[0].suffix.lower() in IMAGE_SUFFIXES:
        return ParticipantMedia(audio_pcm(parts[1]), image_frames(parts[0]))
    if len(parts) != 1:
        raise MediaFileError(f"{spec}: expected FILE or IMAGE+AUDIO")
    path = parts[0]
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return ParticipantMedia(None, image_frames(path))
    if suffix in AUDIO_SUFFIXES:
        return ParticipantMedia(audio_pcm(path), ())
    return video_media(path, fps=fps, max_frames=max_frames)
