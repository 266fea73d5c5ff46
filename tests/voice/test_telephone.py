"""The phone-channel simulation: band limits, 16 kHz output, mu-law quantisation."""

from __future__ import annotations

import numpy as np

from emotion_models.voice.telephone import degrade_to_telephone, mu_law_roundtrip


def _band_energy(wave: np.ndarray, lo: float, hi: float, sr: int = 16000) -> float:
    spectrum = np.abs(np.fft.rfft(wave)) ** 2
    freqs = np.fft.rfftfreq(len(wave), 1 / sr)
    return float(spectrum[(freqs >= lo) & (freqs < hi)].sum())


def test_phone_channel_keeps_only_the_voice_band() -> None:
    t = np.arange(44100) / 44100
    tones = sum(0.1 * np.sin(2 * np.pi * f * t) for f in (100, 1000, 6000)).astype(np.float32)
    out = degrade_to_telephone(tones, 44100)
    assert out.dtype == np.float32 and len(out) == 16000
    kept = _band_energy(out, 900, 1100)
    assert _band_energy(out, 50, 200) < 0.01 * kept  # below 300 Hz: gone
    assert _band_energy(out, 3600, 8000) < 0.01 * kept  # above 3.4 kHz: gone
    assert kept > 0.5 * _band_energy(tones[::1], 900, 1100, 44100) * (16000 / 44100) ** 2


def test_mu_law_is_8_bit_and_close() -> None:
    x = np.linspace(-1, 1, 10001, dtype=np.float32)
    y = mu_law_roundtrip(x)
    assert len(np.unique(y)) <= 256
    assert (np.abs(y - x) <= 0.025 * np.abs(x) + 1e-3).all()  # log quantiser: error relative to level
    assert np.abs(mu_law_roundtrip(np.array([0.001], dtype=np.float32)) - 0.001).max() < 1e-3


def test_empty_input() -> None:
    assert degrade_to_telephone(np.zeros(0, dtype=np.float32), 16000).shape == (0,)
