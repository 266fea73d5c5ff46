"""Utterance features for the voice classifier: the numpy (run-time) front end.

One frame grid for everything: 40 ms Hann windows every 10 ms in a 1024-point FFT (the zero margin
lets the power spectrum's inverse FFT give an un-aliased autocorrelation for pitch). From the power
spectrogram come 64 log-mel bands (HTK scale, 60-7800 Hz), MFCCs and their deltas, frame energy,
pitch and voicing (normalised autocorrelation), spectral centroid, low/high band ratio and flatness.
Statistics over the utterance's active frames (within 40 dB of its loudest) make a fixed-length
vector, so leading/trailing silence and the clip length do not matter. Only the level features
(energy_level and the mean of MFCC 0) follow the input gain; training randomises gain for them.

Training computes the spectrogram and mel bands with torchaudio (training/voice/frontend.py) and
passes them to `frame_tracks`, then `utterance_statistics`; tests check both front ends agree.
"""

from __future__ import annotations

import math

import numpy as np

from emotion_models.voice.audio import SAMPLE_RATE
from emotion_models.voice.dynamics import UtteranceFrames, dynamics_names, dynamics_statistics, smoothed_peaks

N_FFT = 1024
WIN_LENGTH = 640
HOP_LENGTH = 160
N_MELS = 64
F_MIN = 60.0
F_MAX = 7800.0
N_MFCC = 20
EPS = 1e-6  # power floor: keeps log finite in digital silence (EmoDB's padding is exact zeros)
ACTIVE_RANGE_DB = 40.0
PITCH_LAG_MIN = SAMPLE_RATE // 500  # 500 Hz
PITCH_LAG_MAX = SAMPLE_RATE // 70  # 70 Hz
VOICING_THRESHOLD = 0.5
OCTAVE_TOLERANCE = 0.9  # a shorter-lag autocorrelation peak this close to the best is the pitch
MIN_SAMPLES = N_FFT  # shorter inputs are zero-padded (reflect padding needs > N_FFT/2 samples)
# Part of the ONNX front-end version (inputs.FRONTEND_VERSION): bump on any change here.
STATISTICS_VERSION = "logmel64-mfcc20-pitch-dynamics-v2"


def hann_window() -> np.ndarray:
    """Periodic Hann of WIN_LENGTH centred in N_FFT (how torch.stft pads a shorter window)."""
    n = np.arange(WIN_LENGTH)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / WIN_LENGTH)
    left = (N_FFT - WIN_LENGTH) // 2
    return np.pad(window, (left, N_FFT - WIN_LENGTH - left))


def _hz_to_mel(hz: float | np.ndarray) -> float | np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def _mel_points_hz() -> np.ndarray:
    """(N_MELS + 2,) filter edges in Hz, evenly spaced in mel: band i spans points i..i+2, peaks at i+1."""
    return _mel_to_hz(np.linspace(_hz_to_mel(F_MIN), _hz_to_mel(F_MAX), N_MELS + 2))


def triangular_filters(edges_hz: np.ndarray, n_fft: int) -> np.ndarray:
    """(n_fft//2+1, len(edges_hz)-2) triangles: band i rises from edge i, peaks at i+1, ends at i+2."""
    freqs = np.linspace(0, SAMPLE_RATE // 2, n_fft // 2 + 1)
    widths = np.diff(edges_hz)
    slopes = edges_hz[None, :] - freqs[:, None]
    down = -slopes[:, :-2] / widths[:-1]
    up = slopes[:, 2:] / widths[1:]
    return np.maximum(0.0, np.minimum(down, up))


def mel_filterbank() -> np.ndarray:
    """(N_FFT//2+1, N_MELS) triangular HTK filters, as torchaudio.functional.melscale_fbanks builds them."""
    return triangular_filters(_mel_points_hz(), N_FFT).astype(np.float32)


def dct_matrix() -> np.ndarray:
    """(N_MELS, N_MFCC) orthonormal DCT-II, as torchaudio.functional.create_dct(N_MFCC, N_MELS, 'ortho')."""
    n = np.arange(N_MELS, dtype=np.float64)
    k = np.arange(N_MFCC, dtype=np.float64)[:, None]
    dct = np.cos(math.pi / N_MELS * (n + 0.5) * k)
    dct[0] *= 1.0 / math.sqrt(2.0)
    dct *= math.sqrt(2.0 / N_MELS)
    return dct.T.astype(np.float32)


_WINDOW = hann_window()
_MEL_FB = mel_filterbank()
_DCT = dct_matrix()
_FREQS = np.linspace(0, SAMPLE_RATE // 2, N_FFT // 2 + 1)
_MEL_CENTRES_HZ = _mel_points_hz()[1:-1]
# Autocorrelation of the window itself: dividing by it undoes the taper's bias towards short lags.
_WINDOW_AC = np.fft.irfft(np.abs(np.fft.rfft(_WINDOW)) ** 2, n=N_FFT)
_WINDOW_AC = _WINDOW_AC / _WINDOW_AC[0]


def prepare(wave: np.ndarray) -> np.ndarray:
    """float32 1-D, zero-padded to MIN_SAMPLES."""
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    if wave.size == 0:
        raise ValueError("empty waveform")
    if wave.size < MIN_SAMPLES:
        wave = np.pad(wave, (0, MIN_SAMPLES - wave.size))
    return wave


def power_spectrogram(wave: np.ndarray) -> np.ndarray:
    """(T, N_FFT//2+1) power spectrogram of centred, reflect-padded frames (as torchaudio Spectrogram)."""
    wave = prepare(wave)
    padded = np.pad(wave, (N_FFT // 2, N_FFT // 2), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP_LENGTH]
    spectrum = np.fft.rfft(frames * _WINDOW, axis=1)
    return (spectrum.real**2 + spectrum.imag**2).astype(np.float32)


def mel_spectrogram(power: np.ndarray) -> np.ndarray:
    """(T, N_MELS) mel energies from a power spectrogram."""
    return power @ _MEL_FB


def _deltas(x: np.ndarray) -> np.ndarray:
    """Regression deltas over +-2 frames with edge replication (torchaudio.functional.compute_deltas)."""
    padded = np.pad(x, ((2, 2), (0, 0)), mode="edge")
    n = x.shape[0]
    return (2.0 * (padded[4 : n + 4] - padded[0:n]) + (padded[3 : n + 3] - padded[1 : n + 1])) / 10.0


def _pitch(power: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame (f0 in semitones above 100 Hz, voicing strength in [0, 1]) from the autocorrelation.

    A periodic frame correlates almost as well at two periods as at one, and with lags quantised to
    samples the longer lag often wins at high pitch: an octave drop in the middle of a rising
    contour. So the pitch is the shortest-lag peak within OCTAVE_TOLERANCE of the best one, refined
    between samples by a parabola through the peak and its neighbours.
    """
    ac = np.fft.irfft(power.astype(np.float64), n=N_FFT, axis=1)
    energy = np.maximum(ac[:, :1], 1e-12)
    lags = slice(PITCH_LAG_MIN - 1, PITCH_LAG_MAX + 2)  # one lag either side for the peak tests
    normalised = ac[:, lags] / energy / _WINDOW_AC[lags]
    inner = normalised[:, 1:-1]
    rows = np.arange(len(inner))
    peak = (inner > normalised[:, :-2]) & (inner >= normalised[:, 2:])
    candidate = peak & (inner >= OCTAVE_TOLERANCE * inner.max(axis=1, keepdims=True))
    best = np.where(candidate.any(axis=1), candidate.argmax(axis=1), inner.argmax(axis=1))
    strength = np.clip(inner[rows, best], 0.0, 1.0)
    left, centre, right = normalised[rows, best], normalised[rows, best + 1], normalised[rows, best + 2]
    curvature = left - 2.0 * centre + right  # < 0 at a proper peak
    peaked = curvature < -1e-9
    shift = np.where(peaked, 0.5 * (left - right) / np.where(peaked, curvature, -1.0), 0.0)
    f0 = SAMPLE_RATE / (best + PITCH_LAG_MIN + np.clip(shift, -0.5, 0.5))
    return 12.0 * np.log2(f0 / 100.0), strength


def _stats(track: np.ndarray) -> list[float]:
    """mean, std, 10th/50th/90th percentile of a 1-D track (zeros if empty)."""
    if track.size == 0:
        return [0.0] * 5
    p10, p50, p90 = np.percentile(track, [10, 50, 90])
    return [float(track.mean()), float(track.std()), float(p10), float(p50), float(p90)]


def _peak_rate(energy: np.ndarray) -> float:
    """Energy peaks (syllable nuclei, roughly) per second over the active span."""
    smooth, peaks = smoothed_peaks(energy)
    peaks &= smooth[1:-1] > smooth.mean()
    return float(peaks.sum()) / max(len(energy) * HOP_LENGTH / SAMPLE_RATE, 1e-3)


TRACKS_VERSION = "tracks-v2"  # training caches frame_tracks under this key: bump on any change to them
# Per-frame tracks, packed as columns of one (T, TRACK_WIDTH) matrix: the statistics below are
# computed from these alone, so training can cache the tracks once and try new statistics cheaply.
TRACK_LOG_MEL = slice(0, N_MELS)
TRACK_LOG_ENERGY = N_MELS
TRACK_SEMITONES = N_MELS + 1
TRACK_VOICING = N_MELS + 2
TRACK_CENTROID = N_MELS + 3
TRACK_BAND_RATIO = N_MELS + 4
TRACK_WIDTH = N_MELS + 5


def frame_tracks(power: np.ndarray, mel: np.ndarray) -> np.ndarray:
    """(T, TRACK_WIDTH) float32 per-frame tracks from a (T, 513) power and (T, 64) mel spectrogram."""
    power32 = np.asarray(power, dtype=np.float32)
    tracks = np.empty((power32.shape[0], TRACK_WIDTH), dtype=np.float32)
    tracks[:, TRACK_LOG_MEL] = np.log(np.asarray(mel, dtype=np.float32) + EPS)
    tracks[:, TRACK_LOG_ENERGY] = np.log(power32.sum(axis=1) + EPS)
    tracks[:, TRACK_SEMITONES], tracks[:, TRACK_VOICING] = _pitch(power32)
    power64 = power32.astype(np.float64) + EPS  # band sums in float64: quiet frames stay finite
    tracks[:, TRACK_CENTROID] = (power64 * _FREQS).sum(axis=1) / power64.sum(axis=1) / (SAMPLE_RATE / 2)
    low = _FREQS < 1000.0
    tracks[:, TRACK_BAND_RATIO] = np.log(power64[:, ~low].sum(axis=1)) - np.log(power64[:, low].sum(axis=1))
    return tracks


def utterance_statistics(tracks: np.ndarray) -> np.ndarray:
    """Fixed-length float32 vector (see FEATURE_NAMES) from (T, TRACK_WIDTH) frame tracks."""
    log_mel = tracks[:, TRACK_LOG_MEL]
    log_energy = tracks[:, TRACK_LOG_ENERGY]
    active = log_energy > log_energy.max() - ACTIVE_RANGE_DB * math.log(10) / 10
    if active.sum() < 3:
        active[:] = True
    level = float(np.percentile(log_energy[active], 90))
    lm = log_mel[active]
    lm_rel = lm - lm.mean()  # spectral shape, independent of input gain
    mfcc = log_mel @ _DCT
    d_mfcc = _deltas(mfcc)
    dd_mfcc = _deltas(d_mfcc)
    semitones, strength = tracks[:, TRACK_SEMITONES], tracks[:, TRACK_VOICING]
    voiced = active & (strength >= VOICING_THRESHOLD)
    f0 = semitones[voiced]
    e_rel = log_energy[active] - level
    d_energy = _deltas(log_energy[:, None])[:, 0][active]
    centroid = tracks[active, TRACK_CENTROID]
    band_ratio = tracks[active, TRACK_BAND_RATIO]
    mel_act = np.exp(lm.astype(np.float64))
    flatness = lm.mean(axis=1) - np.log(mel_act.mean(axis=1))
    f0_stats = _stats(f0)
    parts: list[np.ndarray | list[float]] = [
        lm_rel.mean(axis=0),
        lm.std(axis=0),
        mfcc[active].mean(axis=0),
        mfcc[active].std(axis=0),
        d_mfcc[active].std(axis=0),
        dd_mfcc[active].std(axis=0),
        [*_stats(e_rel), float(d_energy.std()), level],
        [*f0_stats, f0_stats[4] - f0_stats[2], float(np.diff(f0).std()) if f0.size > 2 else 0.0],
        [float(voiced.sum() / active.sum()), float(strength[active].mean())],
        [float(centroid.mean()), float(centroid.std()), float(band_ratio.mean()), float(band_ratio.std())],
        [float(flatness.mean()), float(flatness.std())],
        [float(active.mean()), _peak_rate(log_energy[active])],
    ]
    frames = UtteranceFrames(
        semitones=semitones,
        log_energy=log_energy,
        centroid=tracks[:, TRACK_CENTROID],
        mfcc=mfcc,
        log_mel=log_mel,
        d_log_mel=_deltas(log_mel),
        active=active,
        voiced=voiced,
        level=level,
        mel_hz=_MEL_CENTRES_HZ,
        frame_s=HOP_LENGTH / SAMPLE_RATE,
    )
    parts.append(dynamics_statistics(frames))
    return np.concatenate([np.asarray(p, dtype=np.float32).reshape(-1) for p in parts])


def utterance_features(power: np.ndarray, mel: np.ndarray) -> np.ndarray:
    """Fixed-length float32 vector (see FEATURE_NAMES) from a (T, 513) power and (T, 64) mel spectrogram."""
    return utterance_statistics(frame_tracks(power, mel))


FEATURE_NAMES: tuple[str, ...] = (
    *(f"logmel_rel_mean_{i}" for i in range(N_MELS)),
    *(f"logmel_std_{i}" for i in range(N_MELS)),
    *(f"mfcc_mean_{i}" for i in range(N_MFCC)),
    *(f"mfcc_std_{i}" for i in range(N_MFCC)),
    *(f"mfcc_d_std_{i}" for i in range(N_MFCC)),
    *(f"mfcc_dd_std_{i}" for i in range(N_MFCC)),
    *(f"energy_{s}" for s in ("mean", "std", "p10", "p50", "p90", "d_std", "level")),
    *(f"f0_{s}" for s in ("mean", "std", "p10", "p50", "p90", "range", "d_std")),
    "voiced_fraction",
    "voicing_strength",
    "centroid_mean",
    "centroid_std",
    "band_ratio_mean",
    "band_ratio_std",
    "flatness_mean",
    "flatness_std",
    "active_fraction",
    "peak_rate",
    *dynamics_names(N_MFCC),
)
NUM_FEATURES = len(FEATURE_NAMES)
# The trivial baseline's inputs: log-mel means and standard deviations only.
BASELINE_FEATURES = slice(0, 2 * N_MELS)


def extract_features(wave: np.ndarray) -> np.ndarray:
    """(NUM_FEATURES,) float32 features of one 16 kHz mono waveform (numpy front end)."""
    power = power_spectrogram(wave)
    return utterance_features(power, mel_spectrogram(power))
