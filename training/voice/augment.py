"""Waveform augmentation for a small acted corpus: speed (tempo + pitch), reverb, noise, phone, gain.

Each training clip is featurised several times: clean, through the phone channel, and in a few
random chains of these (seeded per clip and version, so the feature cache is reproducible). The
last chains can be made to end on the phone line (`phone_chains_from`): a phone caller's audio is
then as varied in training (speed, room, noise, level) as a web caller's, not one studio copy a clip.
"""

from __future__ import annotations

import numpy as np

from emotion_models.voice.audio import SAMPLE_RATE, resample
from emotion_models.voice.telephone import degrade_to_telephone

# Playback-speed factors as small rational rate pairs (keeps the polyphase resampler cheap).
SPEED_RATES = (14400, 15200, 16800, 17600)  # 0.90, 0.95, 1.05, 1.10 x
SNR_DB = (5.0, 25.0)
GAIN_DB = (-12.0, 6.0)
RT60_S = (0.15, 0.6)
AUGMENT_VERSION = "augment-v1"  # part of the training cache key: bump on any change to the chains below


def speed(wave: np.ndarray, rate: int) -> np.ndarray:
    """Play the clip as if recorded at `rate` Hz: faster and higher for rate > 16 kHz."""
    return resample(wave, rate, SAMPLE_RATE)


def colored_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with a 1/f^exponent power spectrum (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1]
    noise = np.fft.irfft(spectrum / freqs ** (exponent / 2), n=n)
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)


def add_noise(wave: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Add colored noise at snr_db relative to the clip's active-speech power."""
    power = wave**2
    speech_power = float(power[power > 0.01 * power.max()].mean()) if power.max() > 0 else 1e-8
    noise = colored_noise(wave.shape[0], float(rng.uniform(0.0, 2.0)), rng)
    return wave + noise * np.sqrt(speech_power / 10 ** (snr_db / 10))


def reverb(wave: np.ndarray, rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room response (exponentially decaying noise after a direct path)."""
    n = int(rt60_s * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    rir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s) * 0.3
    rir[0] = 1.0
    size = wave.shape[0] + n - 1
    out = np.fft.irfft(np.fft.rfft(wave, size) * np.fft.rfft(rir, size), size)[: wave.shape[0]]
    return (out * (np.abs(wave).max() / (np.abs(out).max() + 1e-12))).astype(np.float32)


def random_chain(wave: np.ndarray, rng: np.random.Generator, phone: bool = False) -> np.ndarray:
    """One random augmentation chain; every step is optional (the phone channel forced by `phone`)."""
    if rng.random() < 0.7:
        wave = speed(wave, int(rng.choice(SPEED_RATES)))
    if rng.random() < 0.3:
        wave = reverb(wave, float(rng.uniform(*RT60_S)), rng)
    if rng.random() < 0.8:
        wave = add_noise(wave, float(rng.uniform(*SNR_DB)), rng)
    if rng.random() < 0.3 or phone:  # the draw is made either way: same random stream
        wave = degrade_to_telephone(wave, SAMPLE_RATE)
    gain = 10 ** (float(rng.uniform(*GAIN_DB)) / 20)
    return np.clip(wave * gain, -1.0, 1.0).astype(np.float32)


CLEAN = 0
TELEPHONE = 1


def version(wave: np.ndarray, index: int, seed: int, phone_chains_from: int | None = None) -> np.ndarray:
    """Version `index` of a clip: 0 clean, 1 phone channel, >= 2 random chains seeded by (seed, index);
    the chains from index `phone_chains_from` on end on the phone line (None: only if drawn)."""
    if index == CLEAN:
        return wave
    if index == TELEPHONE:
        return degrade_to_telephone(wave, SAMPLE_RATE)
    phone = phone_chains_from is not None and index >= phone_chains_from
    return random_chain(wave, np.random.default_rng([seed, index]), phone=phone)
