"""Audio in: decode a file to mono float32 and resample it, with numpy only (no torch at run time).

`resample` is a port of torchaudio.functional.resample (windowed-sinc, Hann, 6 zero crossings,
rolloff 0.99), so training (torchaudio) and run time see the same signal; tests compare the two.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16000


class AudioDecodeError(ValueError):
    """A file that soundfile cannot read, or that holds no samples."""


@lru_cache(maxsize=16)
def _sinc_kernel(orig: int, new: int, lowpass_filter_width: int = 6, rolloff: float = 0.99) -> np.ndarray:
    """(new, kernel_len) float32 polyphase kernels for the gcd-reduced rates, as torchaudio builds them."""
    base_freq = min(orig, new) * rolloff
    width = math.ceil(lowpass_filter_width * orig / base_freq)
    idx = np.arange(-width, width + orig, dtype=np.float64)[None, :] / orig
    t = np.arange(0, -new, -1, dtype=np.float64)[:, None] / new + idx
    t = np.clip(t * base_freq, -lowpass_filter_width, lowpass_filter_width)
    window = np.cos(t * math.pi / lowpass_filter_width / 2) ** 2
    t = t * math.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        kernels = np.where(t == 0, 1.0, np.sin(t) / t)
    return (kernels * window * (base_freq / orig)).astype(np.float32)


def resample(wave: np.ndarray, orig_freq: int, new_freq: int) -> np.ndarray:
    """Band-limited resampling of a 1-D float signal; output length ceil(len * new / orig)."""
    wave = np.asarray(wave, dtype=np.float32)
    if orig_freq == new_freq:
        return wave
    if orig_freq <= 0 or new_freq <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_freq} -> {new_freq}")
    gcd = math.gcd(int(orig_freq), int(new_freq))
    orig, new = int(orig_freq) // gcd, int(new_freq) // gcd
    kernels = _sinc_kernel(orig, new)
    width = (kernels.shape[1] - orig) // 2
    padded = np.pad(wave, (width, width + orig))
    frames = np.lib.stride_tricks.sliding_window_view(padded, kernels.shape[1])[::orig]
    out = (frames @ kernels.T).reshape(-1)
    return np.ascontiguousarray(out[: math.ceil(new * wave.shape[0] / orig)])


def to_mono(samples: np.ndarray) -> np.ndarray:
    """(n,) or (n, channels) -> (n,) float32 by averaging channels."""
    samples = np.asarray(samples, dtype=np.float32)
    return samples.mean(axis=1) if samples.ndim == 2 else samples


def load_audio(path: Path | str, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode wav/flac/ogg (Opus or Vorbis) at any rate and channel count -> mono float32 at sample_rate."""
    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioDecodeError(f"cannot decode {path}: {exc}") from exc
    wave = to_mono(samples)
    if wave.size == 0:
        raise AudioDecodeError(f"no samples in {path}")
    return resample(wave, int(rate), sample_rate)


def int16_to_float(chunk: np.ndarray) -> np.ndarray:
    """int16 PCM -> float32 in [-1, 1]; float input is passed through as float32."""
    chunk = np.asarray(chunk)
    if chunk.dtype == np.int16:
        return chunk.astype(np.float32) / 32768.0
    return chunk.astype(np.float32, copy=False)
