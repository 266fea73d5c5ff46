"""Tunable settings of the per-participant analysis pipeline (one object per call)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class PipelineConfig:
    """Rates, queue bounds, batching and smoothing constants.

    Defaults follow what meeting-bot infrastructure delivers (per-participant video at 2 fps, 16 kHz
    mono audio) and keep every queue small: a participant never holds more than `max_queue` frames
    or `max_audio_queue_s` seconds of audio; anything older is dropped and counted.
    """

    video_fps: float = 2.0  # target face sampling rate per participant (media time)
    min_video_fps: float = 0.25  # adaptive back-off never samples slower than this
    adaptive: bool = True  # back off when inference falls behind (live); off for recorded files
    all_faces: bool = False  # False: the largest face is the participant; True: every face counts
    max_queue: int = 4  # sampled frames waiting per participant; oldest dropped beyond this
    max_audio_queue_s: float = 5.0  # audio seconds waiting per participant; oldest dropped beyond this
    face_tau_s: float = 2.0  # smoothing time constant of the face estimate
    voice_tau_s: float = 4.0  # smoothing time constant of the voice estimate (segments are sparse)
    stale_after_tau: float = 3.0  # a modality older than this many time constants leaves the fusion
    slow_warning_interval_s: float = 30.0  # rate limit of "slower than real time" warnings
    writer_flush_interval_s: float = 0.5

    def __post_init__(self) -> None:
        if self.video_fps <= 0 or self.min_video_fps <= 0 or self.min_video_fps > self.video_fps:
            raise ValueError("need 0 < min_video_fps <= video_fps")
        if self.max_queue < 1 or self.max_audio_queue_s <= 0:
            raise ValueError("max_queue and max_audio_queue_s must be positive")
        if self.face_tau_s <= 0 or self.voice_tau_s <= 0:
            raise ValueError("smoothing time constants must be positive")
