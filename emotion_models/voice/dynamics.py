"""Utterance statistics of how the voice moves and sounds, on top of the level/spread statistics.

The first feature set (features.py) summarises each track by its level and spread; it cannot tell a
rising from a falling pitch, a steady from a halting delivery, or a breathy from a pressed vowel.
These statistics add that, from the same frame tracks:

- contour: pitch, energy, spectral centroid and MFCC 1-2 in each third of the active span; pitch
  and energy slopes; where the pitch and energy peaks sit; how often pitch rises or falls between
  consecutive voiced frames; jitter- and shimmer-like frame-to-frame changes; pitch skew.
- voice quality: MFCC means over voiced and over unvoiced active frames (vowels vs. fricatives and
  breath), Hammarberg index (strongest 0-2 kHz vs. 2-5 kHz band), log-mel shape on voiced frames.
- rhythm: voiced runs and pauses per second, mean voiced-run length, pause share, the energy
  envelope's modulation spectrum (1-16 Hz, syllable and phrase rates), pitch accents per second.
- spectral dynamics: spread of the log-mel deltas, 10th/90th percentiles of the log-mel shape (16
  band groups each), MFCC 0-12 skewness and kurtosis.

In the LOSO comparison (model card) these lifted the nEMO UAR most: surprise and happiness differ
from anger more in contour and rhythm than in level.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

BAND_GROUPS = 16  # log-mel bands are averaged in groups of 4 for the shape statistics
N_MFCC_MOMENTS = 13
MODULATION_BANDS_HZ = ((1.0, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 16.0))
MODULATION_FFT = 256  # 2.56 s of envelope; longer spans are truncated, shorter zero-padded
PITCH_STEP = 0.25  # semitones between consecutive voiced frames that count as a rise or a fall


class UtteranceFrames(NamedTuple):
    """One utterance's per-frame tracks and masks, as features.utterance_statistics derives them."""

    semitones: np.ndarray  # (T,) pitch, semitones above 100 Hz
    log_energy: np.ndarray  # (T,)
    centroid: np.ndarray  # (T,) spectral centroid, fraction of Nyquist
    mfcc: np.ndarray  # (T, n_mfcc)
    log_mel: np.ndarray  # (T, n_mels)
    d_log_mel: np.ndarray  # (T, n_mels) regression deltas
    active: np.ndarray  # (T,) bool: within the active range of the loudest frame
    voiced: np.ndarray  # (T,) bool: active and periodic
    level: float  # the utterance level (90th percentile of active log energy)
    mel_hz: np.ndarray  # (n_mels,) band centres
    frame_s: float  # frame hop in seconds


def smoothed_peaks(track: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(5-frame moving average, mask of its local maxima over frames 1..T-2): syllables, accents."""
    smooth = np.convolve(track, np.ones(5) / 5, mode="same")
    inner = smooth[1:-1]
    return smooth, (inner > smooth[:-2]) & (inner >= smooth[2:])


def _slope(y: np.ndarray, t: np.ndarray) -> float:
    """Least-squares slope of y over t (0 if fewer than 3 points)."""
    if y.size < 3:
        return 0.0
    tc = t - t.mean()
    return float((tc * (y - y.mean())).sum() / max(float((tc * tc).sum()), 1e-9))


def _run_lengths(mask: np.ndarray) -> np.ndarray:
    """Lengths of the runs of True in a boolean track."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)


def _grouped(log_mel: np.ndarray) -> np.ndarray:
    return log_mel.reshape(len(log_mel), BAND_GROUPS, -1).mean(axis=2)


def _contour(u: UtteranceFrames, first: int, last: int) -> list[float]:
    semitones, log_energy, active, voiced, level = u.semitones, u.log_energy, u.active, u.voiced, u.level
    t = np.arange(len(log_energy)) * u.frame_s
    span = last - first
    f0 = semitones[voiced]
    f0_median = float(np.median(f0)) if f0.size else 0.0
    out: list[float] = []
    for k in range(3):
        third = np.zeros(len(active), dtype=bool)
        third[first + span * k // 3 : first + span * (k + 1) // 3] = True
        a, v = third & active, third & voiced
        out += [
            float(semitones[v].mean() - f0_median) if v.any() else 0.0,
            float(log_energy[a].mean() - level) if a.any() else -10.0,
            float(u.centroid[a].mean()) if a.any() else 0.0,
            float(u.mfcc[a, 1].mean()) if a.any() else 0.0,
            float(u.mfcc[a, 2].mean()) if a.any() else 0.0,
        ]
    duration = span * u.frame_s
    t_voiced, e_active = t[voiced], log_energy[active]
    f0_peak_at = float((t_voiced[f0.argmax()] - t[first]) / duration) if f0.size else 0.5
    energy_peak_at = float((t[active][e_active.argmax()] - t[first]) / duration)
    voiced_idx = np.flatnonzero(voiced)
    consecutive = np.diff(voiced_idx) == 1
    d_f0 = np.diff(semitones[voiced_idx])[consecutive]
    d_energy = np.diff(log_energy[voiced_idx])[consecutive]
    moves = [
        float((d_f0 > PITCH_STEP).mean()) if d_f0.size else 0.0,
        float((d_f0 < -PITCH_STEP).mean()) if d_f0.size else 0.0,
        float(np.abs(d_f0).mean()) if d_f0.size else 0.0,
        float(np.abs(d_energy).mean()) if d_energy.size else 0.0,
    ]
    skew = float(((f0 - f0.mean()) ** 3).mean() / (f0.std() ** 3 + 1e-6)) if f0.size > 2 else 0.0
    out += [_slope(f0, t_voiced), _slope(e_active, t[active]), f0_peak_at, energy_peak_at, *moves, skew]
    return out


def _voice_quality(u: UtteranceFrames) -> list[np.ndarray | list[float]]:
    mfcc, log_mel, active, voiced, mel_hz = u.mfcc, u.log_mel, u.active, u.voiced, u.mel_hz
    unvoiced = active & ~voiced
    voiced_mfcc = mfcc[voiced].mean(axis=0) if voiced.any() else np.zeros(mfcc.shape[1])
    unvoiced_mfcc = mfcc[unvoiced].mean(axis=0) if unvoiced.any() else np.zeros(mfcc.shape[1])
    overall = mfcc[active, 0].mean()  # MFCC 0 follows the input gain; relative to its mean it does not
    voiced_mfcc[0] -= overall
    unvoiced_mfcc[0] -= overall
    vowels = log_mel[voiced] if voiced.any() else log_mel[active]
    low, high = mel_hz < 2000.0, (mel_hz >= 2000.0) & (mel_hz < 5000.0)
    hammarberg = vowels[:, low].max(axis=1) - vowels[:, high].max(axis=1)
    return [voiced_mfcc, unvoiced_mfcc, [float(hammarberg.mean()), float(hammarberg.std())]]


def _rhythm(u: UtteranceFrames, first: int, last: int) -> list[float]:
    duration = (last - first) * u.frame_s
    voiced_runs = _run_lengths(u.voiced[first:last])
    pauses = _run_lengths(~u.active[first:last])
    envelope = u.log_energy[first:last]
    envelope = envelope - envelope.mean()
    n = min(len(envelope), MODULATION_FFT)
    spectrum = np.abs(np.fft.rfft(envelope[:n] * np.hanning(n), n=MODULATION_FFT)) ** 2
    freqs = np.fft.rfftfreq(MODULATION_FFT, d=u.frame_s)
    total = spectrum[(freqs >= 1.0) & (freqs < 16.0)].sum() + 1e-9
    modulation = [
        float(spectrum[(freqs >= lo) & (freqs < hi)].sum() / total) for lo, hi in MODULATION_BANDS_HZ
    ]
    accents = 0
    f0 = u.semitones[u.voiced]
    if f0.size > 4:
        smooth, peaks = smoothed_peaks(f0)  # accents: pitch peaks a semitone above the median
        accents = int((peaks & (smooth[1:-1] > np.median(smooth) + 1)).sum())
    return [
        float(len(voiced_runs) / duration),
        float(voiced_runs.mean() * u.frame_s) if voiced_runs.size else 0.0,
        float((~u.active[first:last]).mean()),
        float(len(pauses) / duration),
        *modulation,
        accents / max(duration, 0.1),
    ]


def _spectral_dynamics(u: UtteranceFrames) -> list[np.ndarray]:
    log_mel, active, voiced = u.log_mel, u.active, u.voiced
    delta_spread = _grouped(u.d_log_mel[active].std(axis=0)[None])[0]
    active_mel = log_mel[active]
    shape = _grouped(active_mel - active_mel.mean())
    p10, p90 = np.percentile(shape, [10, 90], axis=0)
    vowels = log_mel[voiced] if voiced.sum() >= 3 else active_mel
    vowel_shape = _grouped(vowels - vowels.mean()).mean(axis=0)
    mfcc = u.mfcc[active][:, :N_MFCC_MOMENTS]
    z = (mfcc - mfcc.mean(axis=0)) / (mfcc.std(axis=0) + 1e-6)
    return [delta_spread, p10, p90, vowel_shape, (z**3).mean(axis=0), (z**4).mean(axis=0)]


def dynamics_statistics(u: UtteranceFrames) -> np.ndarray:
    """(len(dynamics_names(n_mfcc)),) float32 statistics of one utterance's frames."""
    span_idx = np.flatnonzero(u.active)
    first, last = int(span_idx[0]), int(span_idx[-1]) + 1
    parts: list[np.ndarray | list[float]] = [
        _contour(u, first, last),
        *_voice_quality(u),
        _rhythm(u, first, last),
        *_spectral_dynamics(u),
    ]
    return np.concatenate([np.asarray(p, dtype=np.float32).reshape(-1) for p in parts])


def dynamics_names(n_mfcc: int) -> tuple[str, ...]:
    thirds = ("f0", "energy", "centroid", "mfcc1", "mfcc2")
    return (
        *(f"third{k}_{name}" for k in range(3) for name in thirds),
        "f0_slope",
        "energy_slope",
        "f0_peak_position",
        "energy_peak_position",
        "f0_rise_fraction",
        "f0_fall_fraction",
        "f0_jitter",
        "energy_shimmer",
        "f0_skew",
        *(f"voiced_mfcc_mean_{i}" for i in range(n_mfcc)),
        *(f"unvoiced_mfcc_mean_{i}" for i in range(n_mfcc)),
        "hammarberg_mean",
        "hammarberg_std",
        "voiced_runs_per_s",
        "voiced_run_s",
        "pause_fraction",
        "pauses_per_s",
        *(f"energy_modulation_{lo:g}_{hi:g}hz" for lo, hi in MODULATION_BANDS_HZ),
        "pitch_accents_per_s",
        *(f"logmel_delta_std_g{i}" for i in range(BAND_GROUPS)),
        *(f"logmel_rel_p10_g{i}" for i in range(BAND_GROUPS)),
        *(f"logmel_rel_p90_g{i}" for i in range(BAND_GROUPS)),
        *(f"voiced_logmel_rel_g{i}" for i in range(BAND_GROUPS)),
        *(f"mfcc_skew_{i}" for i in range(N_MFCC_MOMENTS)),
        *(f"mfcc_kurtosis_{i}" for i in range(N_MFCC_MOMENTS)),
    )
