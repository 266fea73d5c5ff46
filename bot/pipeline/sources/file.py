"""Decode a recorded call with PyAV: RGB frames at the sampling rate, audio as 16 kHz mono int16.

`probe` opens the file and decodes its first frames before anything is stored, so an unreadable
file is refused with a clear message and leaves no rows behind. `decode` then walks the whole file
once, in presentation order, converting only the frames the sampler keeps (decoding is the cost;
colour conversion is skipped for the rest). A damaged packet is skipped and counted; a file that
ends early (truncated) stops the walk and the report says where, so what could be read is kept.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from bot.pipeline.sampler import FrameSampler

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
# Frames are scaled down to this longest side: faces in a call recording are large, and detection
# cost grows with the frame (the detector tiles big frames when it finds nothing).
MAX_FRAME_SIDE = 1280
# How many packets probe reads looking for a first decodable frame of each stream.
PROBE_PACKETS = 400
# Distinct reasons kept for the report (a badly damaged long file can skip thousands of packets).
MAX_REASONS = 20
AUDIO_GAP_TOLERANCE_S = 0.5
# FFmpeg demuxers that "read" plain text (as ANSI art video): such a file is not a recording.
TEXT_DEMUXERS = frozenset({"tty"})


class MediaError(Exception):
    """A file that cannot be analysed at all; the message says why in words a user can act on."""


@dataclass(frozen=True)
class MediaInfo:
    """What probe found: which streams decode, and how long the file says it is."""

    path: Path
    container: str
    duration_s: float | None
    has_video: bool
    has_audio: bool
    width: int | None = None
    height: int | None = None
    video_fps: float | None = None
    problems: tuple[str, ...] = ()  # streams present but not decodable

    def describe(self) -> str:
        parts = [self.container]
        if self.duration_s is not None:
            parts.append(f"{self.duration_s:.1f} s")
        if self.has_video:
            parts.append(f"video {self.width}x{self.height} @ {self.video_fps or 0:.1f} fps")
        parts.append("audio" if self.has_audio else "no audio")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class VideoSample:
    rgb: np.ndarray  # HxWx3 uint8
    t: float  # seconds since the start of the file


@dataclass(frozen=True, slots=True)
class AudioSample:
    pcm: np.ndarray  # int16 mono 16 kHz
    t: float


@dataclass
class DecodeReport:
    """What `decode` read and what it had to skip."""

    video_frames: int = 0
    sampled_frames: int = 0
    audio_s: float = 0.0
    last_t: float = 0.0
    skipped_packets: int = 0
    skipped_reasons: list[str] = field(default_factory=list)
    stopped_early: str | None = None

    def skip(self, exc: Exception) -> None:
        self.skipped_packets += 1
        reason = type(exc).__name__
        if reason not in self.skipped_reasons and len(self.skipped_reasons) < MAX_REASONS:
            self.skipped_reasons.append(reason)

    def skipped_summary(self) -> str | None:
        """One sentence on what was not analysed, or None when everything was read."""
        notes = []
        if self.skipped_packets:
            reasons = "; ".join(self.skipped_reasons[:3])
            notes.append(f"skipped {self.skipped_packets} damaged packet(s) ({reasons})")
        if self.stopped_early:
            notes.append(f"stopped reading at {self.last_t:.1f} s: {self.stopped_early}")
        return ", ".join(notes) or None


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if not path.is_file():
        raise MediaError(f"{path}: not a file")
    try:
        return av.open(str(path), mode="r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise MediaError(f"{path}: not a readable audio/video file ({exc})") from exc


def _start_offset(container: av.container.InputContainer) -> float:
    return container.start_time / av.time_base if container.start_time is not None else 0.0


def probe(path: Path | str) -> MediaInfo:
    """Open the file and decode a first frame of each stream; MediaError when nothing is usable."""
    path = Path(path)
    with _open(path) as container:
        if container.format.name in TEXT_DEMUXERS:
            raise MediaError(f"{path}: a text file, not an audio/video recording")
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        if video is None and audio is None:
            raise MediaError(f"{path}: has neither an audio nor a video stream")
        wanted = {s.index: s for s in (video, audio) if s is not None}
        decodable: set[int] = set()
        errors: list[str] = []
        try:
            for n, packet in enumerate(container.demux(*wanted.values())):
                if n >= PROBE_PACKETS or len(decodable) == len(wanted):
                    break
                try:
                    if packet.decode():
                        decodable.add(packet.stream.index)
                except av.FFmpegError as exc:
                    errors.append(str(exc))
        except av.FFmpegError as exc:
            errors.append(str(exc))
        if not decodable:
            why = f" ({errors[0]})" if errors else ""
            raise MediaError(
                f"{path}: no audio or video could be decoded{why}; the file is corrupt or truncated"
            )
        has_video = video is not None and video.index in decodable
        has_audio = audio is not None and audio.index in decodable
        problems = tuple(
            f"its {stream.type} stream ({stream.codec_context.name}) could not be decoded and is ignored"
            for stream in wanted.values()
            if stream.index not in decodable
        )
        duration = container.duration / av.time_base if container.duration else None
        return MediaInfo(
            path=path,
            container=container.format.name,
            duration_s=duration,
            has_video=has_video,
            has_audio=has_audio,
            width=video.codec_context.width if has_video and video else None,
            height=video.codec_context.height if has_video and video else None,
            video_fps=float(video.average_rate) if has_video and video and video.average_rate else None,
            problems=problems,
        )


def decode(info: MediaInfo, *, video_fps: float, report: DecodeReport) -> Iterator[VideoSample | AudioSample]:
    """Every sampled frame and all audio of a probed file, in presentation order (a generator).

    `report` is filled in as the walk goes (a caller can show progress from `report.last_t`).
    """
    sampler = FrameSampler(video_fps, adaptive=False)
    with _open(info.path) as container:
        start = _start_offset(container)
        streams = []
        video = container.streams.video[0] if info.has_video else None
        audio = container.streams.audio[0] if info.has_audio else None
        if video is not None:
            video.thread_type = "AUTO"
            streams.append(video)
        if audio is not None:
            streams.append(audio)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        audio_t: float | None = None
        packets = container.demux(*streams)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.FFmpegError as exc:
                report.stopped_early = str(exc)
                break
            try:
                frames = packet.decode()
            except av.FFmpegError as exc:
                report.skip(exc)
                continue
            for frame in frames:
                if frame.time is None:
                    continue
                t = max(0.0, frame.time - start)
                report.last_t = max(report.last_t, t)
                try:
                    if isinstance(frame, av.VideoFrame):
                        report.video_frames += 1
                        samples: list[VideoSample | AudioSample] = (
                            [VideoSample(_to_rgb(frame), t)] if sampler.offer(t) else []
                        )
                        report.sampled_frames += len(samples)
                    else:
                        if audio_t is None or abs(t - audio_t) > AUDIO_GAP_TOLERANCE_S:
                            audio_t = t  # first audio, or a gap in the file: re-anchor the clock
                        samples = list(_resampled(resampler, frame, audio_t))
                        audio_s = sum(len(s.pcm) for s in samples if isinstance(s, AudioSample)) / SAMPLE_RATE
                        audio_t += audio_s
                        report.audio_s += audio_s
                except (av.FFmpegError, ValueError) as exc:  # an undecodable frame, a format change
                    report.skip(exc)
                    if not isinstance(frame, av.VideoFrame):
                        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
                    continue
                yield from samples
        if audio_t is not None:
            for sample in _resampled(resampler, None, audio_t):  # the resampler's buffered tail
                audio_t += len(sample.pcm) / SAMPLE_RATE
                report.audio_s += len(sample.pcm) / SAMPLE_RATE
                yield sample


def _resampled(resampler: av.AudioResampler, frame: av.AudioFrame | None, t: float) -> Iterator[AudioSample]:
    for out in resampler.resample(frame):
        pcm = out.to_ndarray().reshape(-1).astype(np.int16, copy=False)
        yield AudioSample(pcm, t)
        t += len(pcm) / SAMPLE_RATE


_END = object()


async def stream(
    info: MediaInfo, *, video_fps: float, report: DecodeReport, max_pending: int = 32
) -> AsyncIterator[VideoSample | AudioSample]:
    """`decode` on a worker thread, as an async iterator. At most `max_pending` decoded items wait
    (the decoder pauses when the analyser is behind), so memory stays flat on long files."""
    loop = asyncio.get_running_loop()
    items: asyncio.Queue[object] = asyncio.Queue(max_pending)
    stop = threading.Event()

    def produce() -> None:
        outcome: object = _END
        try:
            for item in decode(info, video_fps=video_fps, report=report):
                if stop.is_set():
                    return
                asyncio.run_coroutine_threadsafe(items.put(item), loop).result()
        except BaseException as exc:  # handed to the consumer, which re-raises it
            outcome = exc
        if not stop.is_set():
            asyncio.run_coroutine_threadsafe(items.put(outcome), loop).result()

    producer = loop.run_in_executor(None, produce)
    try:
        while (item := await items.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while not producer.done():  # unblock a producer waiting for room, then let it see `stop`
            while not items.empty():
                items.get_nowait()
            await asyncio.sleep(0.01)


def _to_rgb(frame: av.VideoFrame) -> np.ndarray:
    scale = min(1.0, MAX_FRAME_SIDE / max(frame.width, frame.height))
    if scale < 1.0:
        width, height = round(frame.width * scale) // 2 * 2, round(frame.height * scale) // 2 * 2
        return frame.to_ndarray(format="rgb24", width=width, height=height)
    return frame.to_ndarray(format="rgb24")
