"""Training versions of a clip: clean, phone channel, random chains, and chains heard on a phone line."""

from __future__ import annotations

import numpy as np

from training.voice.augment import CLEAN, TELEPHONE, version

PHONE_CHAINS_FROM = 4

SR = 16000


def _high_share(wave: np.ndarray) -> float:
    """Share of the energy above 3.6 kHz (a phone line carries 300-3400 Hz)."""
    spectrum = np.abs(np.fft.rfft(wave)) ** 2
    freqs = np.fft.rfftfreq(len(wave), 1 / SR)
    return float(spectrum[freqs >= 3600].sum() / spectrum.sum())


def _voice_like() -> np.ndarray:
    t = np.arange(2 * SR) / SR
    return sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220, 1500, 5000)).astype(np.float32)


def test_clean_and_phone_versions() -> None:
    wave = _voice_like()
    assert np.array_equal(version(wave, CLEAN, 7), wave)
    assert _high_share(wave) > 0.2
    assert _high_share(version(wave, TELEPHONE, 7)) < 0.01


def test_chains_from_phone_chains_from_on_always_end_on_the_phone_line() -> None:
    wave = _voice_like()
    for seed in range(6):
        for index in (PHONE_CHAINS_FROM, PHONE_CHAINS_FROM + 1):
            out = version(wave, index, seed, PHONE_CHAINS_FROM)
            assert _high_share(out) < 0.01, (seed, index)  # noise and reverb came before the line
            # Reproducible: the feature cache relies on it.
            assert np.array_equal(out, version(wave, index, seed, PHONE_CHAINS_FROM))


def test_other_chains_stay_mostly_wideband_and_unchanged_by_the_option() -> None:
    wave = _voice_like()
    shares = []
    for seed in range(10):
        for index in (2, 3):
            out = version(wave, index, seed, PHONE_CHAINS_FROM)
            assert np.array_equal(out, version(wave, index, seed))  # caches built without it stay valid
            shares.append(_high_share(out))
    assert sum(s > 0.05 for s in shares) >= 10  # the phone step is drawn for ~30% of them only
