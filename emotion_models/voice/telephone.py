"""Simulate a narrow-band phone channel: 8 kHz sampling, 300-3400 Hz band, 8-bit mu-law (G.711).

Used by `eval voice --telephone` to measure the model on phone callers, and by training as an
augmentation so the model has heard such audio.
"""

from __future__ import annotations

import numpy as np

from emotion_models.voice.audio import SAMPLE_RATE, resample

PHONE_RATE = 8000
BAND_HZ = (300.0, 3400.0)
TRANSITION_HZ = 100.0  # raised-cosine edge of the band-pass, so the filter does not ring
MU = 255.0


def _band_pass(wave: np.ndarray, sample_rate: int, low: float, high: float) -> np.ndarray:
    """Zero-phase FFT band-pass with raised-cosine edges (whole signal at once: an offline channel)."""
    n = wave.shape[0]
    spectrum = np.fft.rfft(wave)
    freqs = np.fft.rfftfreq(n, d=1.0 / sample_rate)
    rise = np.clip((freqs - (low - TRANSITION_HZ / 2)) / TRANSITION_HZ, 0.0, 1.0)
    fall = np.clip(((high + TRANSITION_HZ / 2) - freqs) / TRANSITION_HZ, 0.0, 1.0)
    gain = np.sin(0.5 * np.pi * rise) ** 2 * np.sin(0.5 * np.pi * fall) ** 2
    return np.fft.irfft(spectrum * gain, n=n).astype(np.float32)


def mu_law_roundtrip(wave: np.ndarray, mu: float = MU) -> np.ndarray:
    """Encode to 8-bit mu-law codes and decode back (clips at full scale, as a codec does)."""
    x = np.clip(wave, -1.0, 1.0)
    compressed = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    codes = np.round((compressed + 1.0) / 2.0 * mu)  # 0..255
    decoded = codes / mu * 2.0 - 1.0
    return (np.sign(decoded) * np.expm1(np.abs(decoded) * np.log1p(mu)) / mu).astype(np.float32)


def degrade_to_telephone(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """Pass mono audio at sample_rate through the phone channel; returns 16 kHz float32."""
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    if wave.size == 0:
        return np.zeros(0, dtype=np.float32)
    narrow = resample(wave, sample_rate, PHONE_RATE)
    narrow = _band_pass(narrow, PHONE_RATE, *BAND_HZ)
    narrow = mu_law_roundtrip(narrow)
    return resample(narrow, PHONE_RATE, SAMPLE_RATE)
