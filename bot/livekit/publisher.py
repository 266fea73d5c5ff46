"""Publish a media file through real LiveKit local tracks, at the file's own pace.

Decoding (PyAV) runs in a dedicated thread per file so that ten participants never compete for the
event loop's small default executor; a bounded hand-over queue makes the decoder wait rather than
run ahead. The file is looped until the requested duration is reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from livekit import rtc

logger = logging.getLogger(__name__)

PUBLISH_SAMPLE_RATE = 48_000  # what a WebRTC client sends; the bot's AudioStream resamples to 16 kHz
MAX_WIDTH = 640  # typical per-participant video in a meeting; larger files are scaled down
_HANDOVER_ITEMS = 16


class MediaFileError(RuntimeError):
    """A file that cannot be opened or holds neither audio nor video."""


@dataclass(frozen=True, slots=True)
class _Video:
    t: float
    frame: rtc.VideoFrame


@dataclass(frozen=True, slots=True)
class _Audio:
    t: float
    frame: rtc.AudioFrame


@dataclass(frozen=True, slots=True)
class MediaInfo:
    has_video: bool
    has_audio: bool
    width: int
    height: int


def probe(path: Path) -> MediaInfo:
    """Which streams a file has (and the size its video will be published at)."""
    try:
        with av.open(str(path)) as container:
            video = container.streams.video[0] if container.streams.video else None
            has_audio = bool(container.streams.audio)
            width, height = (video.codec_context.width, video.codec_context.height) if video else (0, 0)
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaFileError(f"{path}: cannot open ({exc})") from exc
    if video is None and not has_audio:
        raise MediaFileError(f"{path}: no audio or video stream")
    if width > MAX_WIDTH:
        width, height = MAX_WIDTH, round(height * MAX_WIDTH / width / 2) * 2
    return MediaInfo(video is not None, has_audio, width, height)


@dataclass(slots=True)
class PublisherStats:
    video_frames: int = 0
    audio_seconds: float = 0.0
    loops: int = 0
    error: str | None = None


class FilePublisher:
    """Feeds one file into a VideoSource and/or AudioSource in real time until `duration_s`."""

    def __init__(
        self,
        path: Path,
        *,
        video: bool,
        audio: bool,
        duration_s: float | None,
        max_fps: float | None = None,
    ) -> None:
        self.path = path
        self.info = probe(path)
        self.send_video = video and self.info.has_video
        self.send_audio = audio and self.info.has_audio
        self.duration_s = duration_s
        self.max_fps = max_fps
        self.stats = PublisherStats()
        self.video_source = rtc.VideoSource(self.info.width, self.info.height) if self.send_video else None
        self.audio_source = rtc.AudioSource(PUBLISH_SAMPLE_RATE, 1) if self.send_audio else None
        self._stop = threading.Event()

    def tracks(self, name: str) -> list[tuple[rtc.Track, rtc.TrackSource.ValueType]]:
        """The local tracks to publish, with the source a browser would give them."""
        tracks: list[tuple[rtc.Track, rtc.TrackSource.ValueType]] = []
        if self.video_source is not None:
            video = rtc.LocalVideoTrack.create_video_track(f"{name}-camera", self.video_source)
            tracks.append((video, rtc.TrackSource.SOURCE_CAMERA))
        if self.audio_source is not None:
            audio = rtc.LocalAudioTrack.create_audio_track(f"{name}-microphone", self.audio_source)
            tracks.append((audio, rtc.TrackSource.SOURCE_MICROPHONE))
        return tracks

    async def run(self) -> None:
        """Publish until the duration is reached or the file ends (no duration). Raises on decode errors."""
        loop = asyncio.get_running_loop()
        handover: asyncio.Queue[_Video | _Audio | BaseException | None] = asyncio.Queue(_HANDOVER_ITEMS)

        def deliver(item: _Video | _Audio | BaseException | None) -> None:
            asyncio.run_coroutine_threadsafe(handover.put(item), loop).result()

        def decode_all() -> None:
            try:
                for item in self._decode_looped():
                    if self._stop.is_set():
                        break
                    deliver(item)
            except BaseException as exc:  # handed to the event loop, raised there
                deliver(exc)
                return
            deliver(None)

        thread = threading.Thread(target=decode_all, name=f"decode {self.path.name}", daemon=True)
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
                if isinstance(item, _Video):
                    assert self.video_source is not None
                    self.video_source.capture_frame(item.frame)
                    self.stats.video_frames += 1
                else:
                    assert self.audio_source is not None
                    await self.audio_source.capture_frame(item.frame)
                    self.stats.audio_seconds += item.frame.duration
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

    # -- decoding (runs in the decoder thread) ---------------------------------------------------

    def _decode_looped(self) -> Iterator[_Video | _Audio]:
        offset = 0.0
        while True:
            end = offset
            for item in self._decode_once(offset):
                if self.duration_s is not None and item.t >= self.duration_s:
                    return
                end = max(end, item.t)
                yield item
            if self.duration_s is None or end <= offset:
                return  # played once, or an empty file: nothing to loop
            self.stats.loops += 1
            offset = end + 1.0 / 30

    def _decode_once(self, offset: float) -> Iterator[_Video | _Audio]:
        with av.open(str(self.path)) as container:
            streams = []
            if self.send_video:
                streams.append(container.streams.video[0])
            if self.send_audio:
                streams.append(container.streams.audio[0])
            resampler = av.AudioResampler(format="s16", layout="mono", rate=PUBLISH_SAMPLE_RATE)
            min_interval = 1.0 / self.max_fps if self.max_fps else 0.0
            last_video = -float("inf")
            first_t: float | None = None
            for packet in container.demux(streams):
                for frame in packet.decode():
                    if frame.time is None:
                        continue
                    if first_t is None:
                        first_t = frame.time
                    t = offset + frame.time - first_t
                    if isinstance(frame, av.VideoFrame):
                        if t - last_video < min_interval:
                            continue
                        last_video = t
                        yield _Video(t, self._video_frame(frame))
                    else:
                        for chunk in resampler.resample(frame):
                            yield _Audio(t, _audio_frame(chunk))

    def _video_frame(self, frame: av.VideoFrame) -> rtc.VideoFrame:
        rgba = frame.to_ndarray(format="rgba", width=self.info.width, height=self.info.height)
        return rtc.VideoFrame(self.info.width, self.info.height, rtc.VideoBufferType.RGBA, rgba.tobytes())


def _audio_frame(chunk: av.AudioFrame) -> rtc.AudioFrame:
    pcm = np.ascontiguousarray(chunk.to_ndarray().reshape(-1), dtype=np.int16)
    return rtc.AudioFrame(pcm.tobytes(), PUBLISH_SAMPLE_RATE, 1, len(pcm))
