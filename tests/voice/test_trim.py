"""Edge trimming: padding and silence go, speech stays, and the features stop seeing the padding."""

from __future__ import annotations

import numpy as np
import pytest

from emotion_models.voice.inputs import STATISTICS, Encoders, FrontEnd, utterance_inputs
from emotion_models.voice.trim import TRIM_MARGIN_S, speech_bounds, trim_silence

SR = 16000


def _tone(seconds: float, amp: float = 0.3, f0: float = 180.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * f0 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def test_zero_padding_and_quiet_edges_are_cut() -> None:
    rng = np.random.default_rng(0)
    speech = _tone(1.0)
    hiss = (rng.standard_normal(int(0.4 * SR)) * 1e-4).astype(np.float32)  # -80 dBFS room tone
    padded = np.concatenate([hiss, speech, np.zeros(int(1.5 * SR), np.float32)])
    start, end = speech_bounds(padded)
    margin = int(TRIM_MARGIN_S * SR)
    assert abs(start - (hiss.size - margin)) <= 400 + 160  # a 25 ms frame touching speech counts
    assert abs(end - (hiss.size + speech.size + margin)) <= 400 + 160
    trimmed = trim_silence(padded)
    assert trimmed.size == end - start
    assert 1.0 <= trimmed.size / SR <= 1.0 + 2 * TRIM_MARGIN_S + 0.05


def test_speech_inside_the_clip_is_kept_whole() -> None:
    # A pause between two words is not an edge: only leading/trailing silence goes.
    gap = np.zeros(int(0.5 * SR), np.float32)
    clip = np.concatenate([_tone(0.5), gap, _tone(0.5, amp=0.1)])
    assert speech_bounds(clip) == (0, clip.size)


@pytest.mark.parametrize("wave", [np.zeros(SR, np.float32), np.zeros(100, np.float32), _tone(0.01)])
def test_silent_or_tiny_input_is_returned_unchanged(wave: np.ndarray) -> None:
    assert speech_bounds(wave) == (0, wave.size)


def test_trimmed_front_end_does_not_see_the_padding() -> None:
    # Two copies of one utterance padded to different lengths (ASED pads per label) look the same.
    speech = _tone(1.2)
    short, long = (np.concatenate([speech, np.zeros(int(s * SR), np.float32)]) for s in (0.3, 1.7))
    trimmed_fe = FrontEnd((STATISTICS,), trim=True)
    untrimmed_fe = FrontEnd((STATISTICS,), trim=False)
    same = utterance_inputs(long, Encoders(), trimmed_fe)
    np.testing.assert_allclose(same, utterance_inputs(short, Encoders(), trimmed_fe), atol=1e-4)
    padded = long
    # Without trimming the padding shows (active fraction, pauses): that is the leak trimming closes.
    assert not np.allclose(utterance_inputs(padded, Encoders(), untrimmed_fe), same, atol=1e-3)
