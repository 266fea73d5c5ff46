"""Decoding recorded calls with PyAV: containers, missing streams, damaged files."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from bot.pipeline.demo_media import write_recording
from bot.pipeline.sources.file import AudioSample, DecodeReport, MediaError, VideoSample, decode, probe


def read_all(path: Path, fps: float = 2.0) -> tuple[list[VideoSample], list[AudioSample], DecodeReport]:
    info = probe(path)
    report = DecodeReport()
    items = list(decode(info, video_fps=fps, report=report))
    return (
        [i for i in items if isinstance(i, VideoSample)],
        [i for i in items if isinstance(i, AudioSample)],
        report,
    )


@pytest.mark.parametrize("name", ["av.mp4", "av.webm", "av.mkv"])
def test_video_and_audio_containers(media_dir, name):
    path = write_recording(media_dir / name, duration_s=3.0, fps=10, width=160, height=120)
    info = probe(path)
    assert info.has_video and info.has_audio
    frames, chunks, report = read_all(path)
    assert [round(f.t, 1) for f in frames] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert frames[0].rgb.shape == (120, 160, 3) and frames[0].rgb.dtype == np.uint8
    assert all(c.pcm.dtype == np.int16 for c in chunks)
    assert report.audio_s == pytest.approx(3.0, abs=0.1)
    # chunk timestamps are continuous: each starts where the previous one ended
    for a, b in itertools.pairwise(chunks):
        assert b.t == pytest.approx(a.t + len(a.pcm) / 16000, abs=1e-6)
    assert report.skipped_summary() is None


def test_audio_only_and_video_only(speech_wav, silent_video_mp4):
    info = probe(speech_wav)
    assert info.has_audio and not info.has_video
    frames, chunks, _ = read_all(speech_wav)
    assert not frames and sum(len(c.pcm) for c in chunks) == pytest.approx(6 * 16000, abs=200)
    info = probe(silent_video_mp4)
    assert info.has_video and not info.has_audio
    frames, chunks, _ = read_all(silent_video_mp4)
    assert len(frames) == 6 and not chunks


def test_high_frame_rate_sampling(media_dir):
    path = write_recording(media_dir / "fast.mp4", duration_s=2.0, fps=30, width=160, height=120, audio=False)
    frames, _, report = read_all(path, fps=5.0)
    assert report.video_frames == 60 and len(frames) == 10


def test_unreadable_files_are_refused_with_a_reason(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        probe(tmp_path / "missing.mp4")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(MediaError):
        probe(garbage)
    text = tmp_path / "notes.txt"
    text.write_text("not a recording\n" * 100)
    with pytest.raises(MediaError):
        probe(text)
    with pytest.raises(MediaError, match="not a file"):
        probe(tmp_path)


def test_truncated_mp4_without_index_is_refused(call_mp4, tmp_path):
    # PyAV writes the mp4 index (moov) at the end: cut it off and nothing can be decoded.
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(call_mp4.read_bytes()[: call_mp4.stat().st_size // 2])
    with pytest.raises(MediaError):
        probe(cut)


def test_truncated_stream_keeps_what_can_be_read(media_dir, tmp_path):
    # Matroska has no trailing index: a cut file still plays up to the cut.
    full = write_recording(media_dir / "long.mkv", duration_s=6.0, fps=10, width=320, height=240)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(full.read_bytes()[: int(full.stat().st_size * 0.6)])
    frames, _chunks, report = read_all(cut)
    assert 0 < len(frames) < 12
    assert 0.5 < report.last_t < 6.0


def test_damaged_bytes_in_the_middle_are_skipped_not_fatal(media_dir, tmp_path):
    full = write_recording(media_dir / "damaged.mkv", duration_s=6.0, fps=10, width=320, height=240)
    data = bytearray(full.read_bytes())
    rng = np.random.default_rng(1)
    middle = len(data) // 2
    data[middle : middle + 4000] = rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mkv"
    damaged.write_bytes(bytes(data))
    frames, _chunks, report = read_all(damaged)
    assert len(frames) >= 6  # most of the file is still analysed
    assert report.last_t > 4.0
