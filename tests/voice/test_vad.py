"""The streaming Silero VAD on real speech, silence and noise (model from the installed wheel)."""

from __future__ import annotations

import itertools
import socket
from pathlib import Path

import livekit.plugins.silero
import numpy as np
import pytest

from emotion_models.voice import vad as vad_module
from emotion_models.voice.vad import StreamingVAD, segment_wave, silero_model_path

SR = 16000


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SR), dtype=np.float32)


def _active_frames(wave: np.ndarray, offset_s: float, range_db: float = 20.0) -> list[float]:
    """Centre times (s) of 10 ms frames within range_db of the clip's loudest frame: surely speech."""
    frames = wave[: len(wave) // 160 * 160].reshape(-1, 160)
    energy = 10 * np.log10((frames**2).mean(axis=1) + 1e-12)
    return [offset_s + (i + 0.5) * 0.01 for i in np.flatnonzero(energy > energy.max() - range_db)]


def test_model_comes_from_the_installed_wheel() -> None:
    path = silero_model_path()
    assert path.is_file() and path.name == "silero_vad.onnx"
    assert Path(livekit.plugins.silero.__file__).parent in path.parents


def test_session_builds_without_network(monkeypatch: pytest.MonkeyPatch, emodb_wave: np.ndarray) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the VAD tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(vad_module, "_session", None)  # force a fresh load from disk
    assert segment_wave(emodb_wave)
    assert vad_module._session is not None


def test_finds_speech_in_real_emodb_clip(emodb_wave: np.ndarray) -> None:
    segments = segment_wave(np.concatenate([_silence(1.0), emodb_wave, _silence(1.0)]))
    assert segments, "no speech found in a real EmoDB utterance"
    assert all(s.samples.dtype == np.float32 for s in segments)
    assert all(len(s.samples) == round((s.end - s.start) * SR) for s in segments)
    assert segments[0].start >= 0.8 and segments[-1].end <= 3.2
    assert sum(s.duration for s in segments) >= 0.8


@pytest.mark.parametrize("level", [0.0, 0.002, 0.01])
def test_no_speech_in_silence_or_low_noise(level: float) -> None:
    noise = np.random.default_rng(0).standard_normal(5 * SR).astype(np.float32) * level
    assert segment_wave(noise) == []


def test_segments_cover_the_speech(emodb_wave: np.ndarray, nemo_wave: np.ndarray) -> None:
    first, second = 1.0, 1.0 + len(emodb_wave) / SR + 1.5
    stream = np.concatenate([_silence(1.0), emodb_wave, _silence(1.5), nemo_wave, _silence(1.0)])
    segments = segment_wave(stream)
    speech = _active_frames(emodb_wave, first) + _active_frames(nemo_wave, second)
    uncovered = [t for t in speech if not any(s.start <= t <= s.end for s in segments)]
    assert len(uncovered) <= 0.02 * len(speech), f"speech frames outside every segment: {uncovered[:10]}"
    gap = (second - 1.5 + 0.3, second - 0.3)  # the pause between the clips, minus padding
    assert not any(s.start >= gap[0] and s.end <= gap[1] for s in segments), "a segment of pure silence"
    assert any(s.end <= second for s in segments) and any(s.start >= second - 0.5 for s in segments)


def test_long_speech_is_cut_into_overlapping_windows(nemo_wave: np.ndarray) -> None:
    stream = np.concatenate([nemo_wave] * 4)  # ~8 s, no pause long enough to close
    vad = StreamingVAD(min_silence_s=1.5, max_segment_s=4.0, overlap_s=1.0)
    segments = segment_wave(stream, vad)
    assert len(segments) >= 2
    assert all(s.duration <= 4.0 + 1e-6 for s in segments)
    assert any(s.duration >= 4.0 - 1e-6 for s in segments), "continuous speech was never cut"
    for prev, nxt in itertools.pairwise(segments):
        if prev.duration >= 4.0 - 1e-6:  # a cut window: the next one starts `overlap` earlier
            assert nxt.start == pytest.approx(prev.end - 1.0)
    covered = segments[-1].end - segments[0].start
    assert covered >= 0.8 * len(stream) / SR


def test_chunking_and_int16_do_not_change_the_result(emodb_wave: np.ndarray, nemo_wave: np.ndarray) -> None:
    stream = np.concatenate([_silence(0.5), emodb_wave, _silence(1.0), nemo_wave, _silence(0.5)])
    pcm = (stream * 32767).astype(np.int16)
    whole = segment_wave(pcm)
    vad = StreamingVAD()
    chunked = []
    rng = np.random.default_rng(1)
    i = 0
    while i < len(pcm):
        n = int(rng.integers(1, 2000))
        chunked += vad.push(pcm[i : i + n])
        i += n
    chunked += vad.flush()
    assert [(s.start, s.end) for s in whole] == [(s.start, s.end) for s in chunked]
    for a, b in zip(whole, chunked, strict=True):
        np.testing.assert_array_equal(a.samples, b.samples)
    as_float = segment_wave(pcm.astype(np.float32) / 32768.0)
    assert [(s.start, s.end) for s in as_float] == [(s.start, s.end) for s in whole]


def test_streams_are_independent_and_reusable_after_flush(emodb_wave: np.ndarray) -> None:
    a, b = StreamingVAD(), StreamingVAD()
    assert a._session is b._session  # one shared InferenceSession per process
    a.push(emodb_wave[: SR // 2])  # a is mid-utterance; b must not notice
    alone = segment_wave(emodb_wave, b)
    a.flush()
    again = segment_wave(emodb_wave, a)
    assert [(s.start, s.end) for s in alone] == [(s.start, s.end) for s in again]


def test_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        StreamingVAD(threshold=1.5)
    with pytest.raises(ValueError):
        StreamingVAD(max_segment_s=2.0, overlap_s=2.0)
