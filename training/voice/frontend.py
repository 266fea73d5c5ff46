"""The training-time feature front end: torchaudio spectrogram and mel bands -> utterance features.

Same frame grid and filters as the run-time numpy front end (emotion_models.voice.features); the
statistics on top are shared code, so the two paths can only differ in the spectrogram itself, and
tests/voice/test_features.py holds them to a tolerance.
"""

from __future__ import annotations

import numpy as np
import torch
import torchaudio

from emotion_models.voice import features as F
from emotion_models.voice.audio import SAMPLE_RATE

_SPECTROGRAM = torchaudio.transforms.Spectrogram(
    n_fft=F.N_FFT,
    win_length=F.WIN_LENGTH,
    hop_length=F.HOP_LENGTH,
    power=2.0,
    center=True,
    pad_mode="reflect",
)
_MEL_SCALE = torchaudio.transforms.MelScale(
    n_mels=F.N_MELS, sample_rate=SAMPLE_RATE, f_min=F.F_MIN, f_max=F.F_MAX, n_stft=F.N_FFT // 2 + 1
)


@torch.inference_mode()
def torch_spectrograms(wave: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(T, 513) power and (T, 64) mel spectrograms computed by torchaudio."""
    signal = torch.from_numpy(F.prepare(wave))
    power = _SPECTROGRAM(signal)
    mel = _MEL_SCALE(power)
    return power.T.numpy(), mel.T.numpy()


def training_tracks(wave: np.ndarray) -> np.ndarray:
    """(T, TRACK_WIDTH) float32 frame tracks of one 16 kHz waveform, torchaudio front end."""
    return F.frame_tracks(*torch_spectrograms(wave))


def training_features(wave: np.ndarray) -> np.ndarray:
    """(NUM_FEATURES,) float32 features of one 16 kHz waveform, torchaudio front end."""
    return F.utterance_statistics(training_tracks(wave))
