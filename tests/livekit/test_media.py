"""Media adapters on real livekit rtc local tracks and frames (a recording sink stands in for the
analyser here only; the lifecycle tests use the real CallSession)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import numpy as np
import pytest
from livekit import rtc

from bot.livekit import media
from bot.livekit.media import AudioReader, VideoReader


class RecordingSink:
    def __init__(self, accept_every: int = 1) -> None:
        self.video: list[tuple[np.ndarray, float]] = []
        self.audio: list[tuple[np.ndarray, float]] = []
        self.accept_every = accept_every
        self.calls = 0

    def push_video(self, rgb: np.ndarray, t: float) -> bool:
        self.calls += 1
        self.video.append((rgb, t))
        return self.calls % self.accept_every == 0

    def push_audio(self, pcm: np.ndarray, t: float) -> None:
        self.audio.append((pcm, t))


@pytest.fixture
async def closing():
    """Registers readers/sources to close after the test even if it fails (a stream still fed after
    its loop closed aborts the process in the SDK's Rust side)."""
    things = []
    yield things.append
    for thing in reversed(things):
        with contextlib.suppress(Exception):
            await thing.aclose()


def clock_from(start: float):
    return lambda: time.monotonic() - start


async def wait_until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def rgba_frame(width: int, height: int, rgb: tuple[int, int, int]) -> rtc.VideoFrame:
    pixels = np.zeros((height, width, 4), np.uint8)
    pixels[..., :3] = rgb
    pixels[..., 3] = 255
    return rtc.VideoFrame(width, height, rtc.VideoBufferType.RGBA, pixels.tobytes())


async def test_video_reader_delivers_rgb_frames_without_alpha(closing):
    source = rtc.VideoSource(64, 48)
    closing(source)
    track = rtc.LocalVideoTrack.create_video_track("cam", source)
    sink = RecordingSink()
    reader = VideoReader("p/cam", track, sink, clock_from(time.monotonic()))
    closing(reader)
    reader.start()
    for _ in range(5):
        source.capture_frame(rgba_frame(64, 48, (200, 100, 50)))
        await asyncio.sleep(0.03)
    await wait_until(lambda: len(sink.video) >= 3)
    await reader.aclose()
    rgb, _ = sink.video[-1]
    assert rgb.shape == (48, 64, 3) and rgb.dtype == np.uint8 and rgb.flags.c_contiguous
    # The SDK's I420 round trip changes colours by a few levels, never more.
    assert np.abs(rgb.reshape(-1, 3).mean(axis=0) - (200, 100, 50)).max() < 8
    times = [t for _, t in sink.video]
    assert times == sorted(times)
    assert reader.stats.pushed == len(sink.video) and reader.stats.errors == 0


async def test_video_reader_closes_although_the_sdk_iterator_never_ends(closing):
    source = rtc.VideoSource(32, 32)
    closing(source)
    track = rtc.LocalVideoTrack.create_video_track("cam", source)
    reader = VideoReader("p/cam", track, RecordingSink(), clock_from(time.monotonic()))
    closing(reader)
    reader.start()
    source.capture_frame(rgba_frame(32, 32, (1, 2, 3)))
    await asyncio.sleep(0.1)
    assert reader.running
    await asyncio.wait_for(reader.aclose(), 3)
    assert not reader.running
    await reader.aclose()  # twice is harmless


async def test_slow_consumer_drops_frames_instead_of_queueing(monkeypatch, closing):
    """A conversion slower than the frame rate: the capacity-1 ring buffer keeps only the newest
    frame, so the reader sees far fewer frames than were published and memory stays flat."""
    real_convert = media.rgba_to_rgb

    def slow_convert(frame: rtc.VideoFrame) -> np.ndarray:
        time.sleep(0.1)
        return real_convert(frame)

    monkeypatch.setattr(media, "rgba_to_rgb", slow_convert)
    source = rtc.VideoSource(320, 240)
    closing(source)
    track = rtc.LocalVideoTrack.create_video_track("cam", source)
    sink = RecordingSink(accept_every=2)
    reader = VideoReader("p/cam", track, sink, clock_from(time.monotonic()))
    closing(reader)
    reader.start()
    published = 60
    for i in range(published):
        source.capture_frame(rgba_frame(320, 240, (i, i, i)))
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)
    await reader.aclose()
    assert reader.stats.frames < published / 2
    assert reader.stats.pushed + reader.stats.refused == len(sink.video)
    assert reader.stats.refused == (len(sink.video) + 1) // 2  # the sink refuses every other frame
    # The newest frame wins: the last one delivered is from the end of the burst.
    assert sink.video[-1][0][0, 0, 0] >= published - 10


async def test_video_reader_rate_gate_skips_conversion(closing):
    source = rtc.VideoSource(32, 32)
    closing(source)
    track = rtc.LocalVideoTrack.create_video_track("cam", source)
    sink = RecordingSink()
    reader = VideoReader("p/cam", track, sink, clock_from(time.monotonic()), max_fps=5)
    closing(reader)
    reader.start()
    started = time.monotonic()
    for _ in range(30):
        source.capture_frame(rgba_frame(32, 32, (9, 9, 9)))
        await asyncio.sleep(1 / 30)
    await asyncio.sleep(0.1)
    elapsed = time.monotonic() - started
    await reader.aclose()
    assert reader.stats.skipped > 0
    assert len(sink.video) <= elapsed * 5 + 1  # 5 fps at most (+ the first frame)


async def test_audio_reader_resamples_to_16k_mono_int16_with_continuous_time(closing):
    source = rtc.AudioSource(48000, 1)
    closing(source)
    track = rtc.LocalAudioTrack.create_audio_track("mic", source)
    sink = RecordingSink()
    reader = AudioReader("p/mic", track, sink, clock_from(time.monotonic()))
    closing(reader)
    reader.start()
    t = np.arange(48000) / 48000
    tone = (8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)
    for i in range(0, len(tone), 480):
        await source.capture_frame(rtc.AudioFrame(tone[i : i + 480].tobytes(), 48000, 1, 480))
    await source.wait_for_playout()
    await asyncio.sleep(0.2)
    await reader.aclose()
    pcm = np.concatenate([chunk for chunk, _ in sink.audio])
    assert pcm.dtype == np.int16
    assert 14000 <= np.count_nonzero(pcm) and len(pcm) >= 15000  # ~1 s at 16 kHz
    assert np.abs(pcm).max() > 6000  # the tone, not silence
    starts = np.array([t for _, t in sink.audio])
    lengths = np.array([len(chunk) for chunk, _ in sink.audio]) / 16000
    # Consecutive chunks abut exactly (time follows the sample count).
    assert np.allclose(starts[1:], starts[:-1] + lengths[:-1], atol=1e-6)


async def test_a_failing_sink_counts_errors_and_keeps_reading(closing):
    class FailingSink(RecordingSink):
        def push_video(self, rgb, t):
            super().push_video(rgb, t)
            if len(self.video) == 1:
                raise RuntimeError("analyser hiccup")
            return True

    source = rtc.VideoSource(32, 32)

    closing(source)
    track = rtc.LocalVideoTrack.create_video_track("cam", source)
    sink = FailingSink()
    reader = VideoReader("p/cam", track, sink, clock_from(time.monotonic()))
    closing(reader)
    reader.start()
    for _ in range(4):
        source.capture_frame(rgba_frame(32, 32, (5, 5, 5)))
        await asyncio.sleep(0.05)
    await wait_until(lambda: len(sink.video) >= 3)
    await reader.aclose()
    assert reader.stats.errors == 1 and reader.stats.pushed >= 2
