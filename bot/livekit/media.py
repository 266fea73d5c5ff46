"""Media adapters: one reader per subscribed track, feeding one participant's analyser.

Bounded by construction: a video reader holds at most one undelivered frame (the SDK's ring buffer
of capacity 1 keeps only the newest), converts it off the event loop and hands it to the analyser,
whose own bounded queue drops its oldest frame when inference falls behind (the analyser counts
those). Readers must be closed explicitly: in livekit 1.1.21 a VideoStream's iterator never ends
when its track goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
from livekit import rtc

logger = logging.getLogger(__name__)

AUDIO_SAMPLE_RATE = 16_000
# 100 ms chunks instead of WebRTC's 10 ms: a tenth of the per-chunk work here and in the analyser,
# for a delay that does not matter to utterance-level emotion.
AUDIO_FRAME_MS = 100
# Audio is never thinned (speech segments need every sample) but still bounded: ~5 s. Only a
# stalled event loop fills it, and then the oldest audio goes first.
AUDIO_QUEUE_FRAMES = 50
_STREAM_CLOSE_TIMEOUT_S = 2.0
# Audio time follows the sample count (exact segment boundaries) until it drifts this far from the
# wall clock, e.g. after the publisher muted and no frames arrived; then it re-anchors.
_AUDIO_REANCHOR_S = 1.0

Clock = Callable[[], float]


class VideoSink(Protocol):
    def push_video(self, rgb: np.ndarray, t: float) -> bool: ...


class AudioSink(Protocol):
    def push_audio(self, pcm: np.ndarray, t: float) -> None: ...


@dataclass(slots=True)
class TrackStats:
    """Counters for one track reader (cumulative)."""

    frames: int = 0  # frames read from the stream
    pushed: int = 0  # frames handed to the analyser and accepted
    refused: int = 0  # frames the analyser did not take (sampled out, closed or excluded)
    skipped: int = 0  # video frames not converted because they came faster than max_fps
    errors: int = 0  # frames that could not be converted or pushed

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def rgba_to_rgb(frame: rtc.VideoFrame) -> np.ndarray:
    """An HxWx3 uint8 copy of a frame, alpha dropped (the SDK cannot convert to RGB24 itself)."""
    if frame.type != rtc.VideoBufferType.RGBA:
        frame = frame.convert(rtc.VideoBufferType.RGBA)
    rgba = np.frombuffer(frame.data, dtype=np.uint8).reshape(frame.height, frame.width, 4)
    return np.ascontiguousarray(rgba[:, :, :3])


def pcm16_mono(frame: rtc.AudioFrame) -> np.ndarray:
    """The int16 samples of a mono frame, copied out of the SDK's buffer."""
    return np.frombuffer(frame.data, dtype=np.int16).copy()


class TrackReader:
    """Reads one track in a task until `aclose()`; failures end this reader only."""

    def __init__(self, name: str, stream: rtc.VideoStream | rtc.AudioStream) -> None:
        self.name = name
        self.stats = TrackStats()
        self._stream = stream
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._guarded(), name=f"read {self.name}")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def aclose(self) -> None:
        """Stop reading and release the stream. Safe to call twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await asyncio.wait_for(self._stream.aclose(), _STREAM_CLOSE_TIMEOUT_S)
        except TimeoutError:
            logger.warning("%s: stream did not close within %.0f s", self.name, _STREAM_CLOSE_TIMEOUT_S)
        except Exception:
            logger.debug("%s: stream already closed", self.name, exc_info=True)

    async def _guarded(self) -> None:
        try:
            await self._read()
        except asyncio.CancelledError:
            raise
        except Exception:
            self.stats.errors += 1
            logger.exception("%s: reader failed; this track is no longer analysed", self.name)

    async def _read(self) -> None:
        raise NotImplementedError


class VideoReader(TrackReader):
    """Camera track -> `sink.push_video(rgb, t)`."""

    def __init__(
        self,
        name: str,
        track: rtc.Track,
        sink: VideoSink,
        clock: Clock,
        *,
        max_fps: float | None = None,
    ) -> None:
        stream = rtc.VideoStream.from_track(track=track, format=rtc.VideoBufferType.RGBA, capacity=1)
        super().__init__(name, stream)
        self._sink = sink
        self._clock = clock
        self._min_interval = 1.0 / max_fps if max_fps else 0.0

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        last_taken = -float("inf")
        async for event in self._stream:
            self.stats.frames += 1
            now = time.monotonic()
            if now - last_taken < self._min_interval:
                self.stats.skipped += 1
                continue
            last_taken = now
            t = self._clock()
            try:
                rgb = await loop.run_in_executor(None, rgba_to_rgb, event.frame)
                accepted = self._sink.push_video(rgb, t)
            except Exception:
                self.stats.errors += 1
                logger.warning("%s: frame skipped", self.name, exc_info=self.stats.errors == 1)
                continue
            if accepted:
                self.stats.pushed += 1
            else:
                self.stats.refused += 1


class AudioReader(TrackReader):
    """Microphone track -> `sink.push_audio(int16 mono 16 kHz, t)`."""

    def __init__(self, name: str, track: rtc.Track, sink: AudioSink, clock: Clock) -> None:
        stream = rtc.AudioStream.from_track(
            track=track,
            sample_rate=AUDIO_SAMPLE_RATE,
            num_channels=1,
            frame_size_ms=AUDIO_FRAME_MS,
            capacity=AUDIO_QUEUE_FRAMES,
        )
        super().__init__(name, stream)
        self._sink = sink
        self._clock = clock

    async def _read(self) -> None:
        anchor: float | None = None
        samples_since_anchor = 0
        async for event in self._stream:
            self.stats.frames += 1
            try:
                pcm = pcm16_mono(event.frame)
                now = self._clock()
                duration = len(pcm) / AUDIO_SAMPLE_RATE
                t = None if anchor is None else anchor + samples_since_anchor / AUDIO_SAMPLE_RATE
                if t is None or abs(t + duration - now) > _AUDIO_REANCHOR_S:
                    anchor, samples_since_anchor = max(0.0, now - duration), 0
                    t = anchor
                samples_since_anchor += len(pcm)
                self._sink.push_audio(pcm, t)
            except Exception:
                self.stats.errors += 1
                logger.warning("%s: audio frame skipped", self.name, exc_info=self.stats.errors == 1)
                continue
            self.stats.pushed += 1


def describe_track(participant: Any, publication: Any) -> str:
    """A log name for a track that carries no personal data (identities are opaque ids)."""
    return f"{participant.identity}/{publication.sid}"
