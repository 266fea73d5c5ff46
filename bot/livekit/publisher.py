"""Publish a media file through real LiveKit local tracks, at the file's own pace.

Decoding is the pipeline's own file decoder (`bot.pipeline.sources.file.decode`); this module
only paces its output into an `rtc.VideoSource` / `rtc.AudioSource`, like a meeting client would.
Each file decodes in a dedicated thread (not the event loop's small default executor, which the
bot's frame conversions use), handing over through a bounded queue so the decoder never runs
ahead. The file is looped until the requested duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from livekit import rtc

from bot.pipeline.sources.file import (
    SAMPLE_RATE,
    AudioSample,
    DecodeReport,
    MediaInfo,
    VideoSample,
    decode,
    probe,
)

logger = logging.getLogger(__name__)

DEFAULT_PUBLISH_FPS = 15.0  # what LiveKit clients often send per participant on a busy call
_HANDOVER_ITEMS = 16
AUDIO_CHUNK_S = 0.1


@dataclass(slots=True)
class PublisherStats:
    video_frames: int = 0
    audio_s: float = 0.0
    loops: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "video_frames": self.video_frames,
            "audio_s": round(self.audio_s, 2),
            "loops": self.loops,
            "error": self.error,
        }


class FilePublisher:
    """Feeds one file into a VideoSource and/or AudioSource in real time.

    `probe` runs in the constructor, so an unreadable file raises `MediaError` before anything is
    published. Decode errors later on end this publisher only (`run` raises, `stats.error` says why).
    """

    def __init__(
        self,
        path: Path,
        *,
        video: bool,
        audio: bool,
        duration_s: float | None,
        fps: float = DEFAULT_PUBLISH_FPS,
    ) -> None:
        self.info: MediaInfo = probe(path)
        self.send_video = video and self.info.has_video
        self.send_audio = audio and self.info.has_audio
        self.duration_s = duration_s
        self.fps = fps
        self.stats = PublisherStats()
        self.video_source = (
            rtc.VideoSource(self.info.width or 0, self.info.height or 0) if self.send_video else None
        )
        self.audio_source = rtc.AudioSource(SAMPLE_RATE, 1) if self.send_audio else None
        self._stop = threading.Event()

    def tracks(self, name: str) -> list[tuple[rtc.Track, rtc.TrackSource.ValueType]]:
        """The local tracks to publish, with the sources a browser would give them."""
        tracks: list[tuple[rtc.Track, rtc.TrackSource.ValueType]] = []
        if self.video_source is not None:
            video = rtc.LocalVideoTrack.create_video_track(f"{name}-camera", self.video_source)
            tracks.append((video, rtc.TrackSource.SOURCE_CAMERA))
        if self.audio_source is not None:
            audio = rtc.LocalAudioTrack.create_audio_track(f"{name}-microphone", self.audio_source)
            tracks.append((audio, rtc.TrackSource.SOURCE_MICROPHONE))
        return tracks

    async def run(self) -> None:
        """Publish until the duration is reached (or the file ends, without a duration)."""
        loop = asyncio.get_running_loop()
        handover: asyncio.Queue[VideoSample | AudioSample | BaseException | None] = asyncio.Queue(
            _HANDOVER_ITEMS
        )

        def hand_over(item: VideoSample | AudioSample | BaseException | None) -> None:
            if not self._stop.is_set():
                asyncio.run_coroutine_threadsafe(handover.put(item), loop).result()

        def decode_all() -> None:
            try:
                for item in self._decode_looped():
                    if self._stop.is_set():
                        return
                    hand_over(item)
            except BaseException as exc:  # handed to the event loop, raised there
                hand_over(exc)
                return
            hand_over(None)

        thread = threading.Thread(target=decode_all, name=f"decode {self.info.path.name}", daemon=True)
        thread.start()
        start = time.monotonic()
        try:
            while (item := await handover.get()) is not None:
                if isinstance(item, BaseException):
                    self.stats.error = f"{type(item).__name__}: {item}"
                    raise item
                delay = start + item.t - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._capture(item)
        finally:
            self._stop.set()
            with contextlib.suppress(asyncio.QueueEmpty):
                while True:  # unblock a decoder waiting on a full queue
                    handover.get_nowait()

    async def aclose(self) -> None:
        self._stop.set()
        if self.audio_source is not None:
            await self.audio_source.aclose()
        if self.video_source is not None:
            await self.video_source.aclose()

    async def _capture(self, item: VideoSample | AudioSample) -> None:
        if isinstance(item, VideoSample):
            assert self.video_source is not None
            height, width, _ = item.rgb.shape
            frame = rtc.VideoFrame(width, height, rtc.VideoBufferType.RGB24, item.rgb.tobytes())
            self.video_source.capture_frame(frame)
            self.stats.video_frames += 1
        else:
            assert self.audio_source is not None
            samples = len(item.pcm)
            await self.audio_source.capture_frame(rtc.AudioFrame(item.pcm.tobytes(), SAMPLE_RATE, 1, samples))
            self.stats.audio_s += samples / SAMPLE_RATE

    def _decode_looped(self) -> Iterator[VideoSample | AudioSample]:
        """The samples of the streams we send, shifted by one file length per loop."""
        wanted = dataclasses.replace(self.info, has_video=self.send_video, has_audio=self.send_audio)
        offset = 0.0
        while True:
            report = DecodeReport()
            for item in _audio_in_chunks(decode(wanted, video_fps=self.fps, report=report)):
                t = offset + item.t
                if self.duration_s is not None and t >= self.duration_s:
                    return
                yield VideoSample(item.rgb, t) if isinstance(item, VideoSample) else AudioSample(item.pcm, t)
            if report.stopped_early:
                name = self.info.path.name
                raise RuntimeError(
                    f"{name}: decoding stopped at {report.last_t:.1f} s: {report.stopped_early}"
                )
            if self.duration_s is None or report.last_t <= 0:
                return
            self.stats.loops += 1
            offset += report.last_t + 1.0 / self.fps


def _audio_in_chunks(items: Iterator[VideoSample | AudioSample]) -> Iterator[VideoSample | AudioSample]:
    """Audio regrouped into AUDIO_CHUNK_S pieces (codec frames are ~20-64 ms): fewer, larger
    captures keep the event loop free for the bot's side of the simulation."""
    pending: list[AudioSample] = []
    samples = 0
    for item in items:
        if isinstance(item, VideoSample):
            yield item
            continue
        pending.append(item)
        samples += len(item.pcm)
        if samples >= AUDIO_CHUNK_S * SAMPLE_RATE:
            yield AudioSample(np.concatenate([p.pcm for p in pending]), pending[0].t)
            pending, samples = [], 0
    if pending:
        yield AudioSample(np.concatenate([p.pcm for p in pending]), pending[0].t)
