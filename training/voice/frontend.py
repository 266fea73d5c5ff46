"""The training-time feature front end: torchaudio spectrogram and mel bands -> utterance inputs.

Same frame grids and filters as the run-time numpy front ends (emotion_models.voice.features for
the statistics, emotion_models.voice.encoder for the voice encoder's mel bands); the statistics and
the encoder graph on top are shared, so the two paths can only differ in the spectrograms
themselves, and tests/voice/test_features.py and test_encoder.py hold them to a tolerance.
"""

from __future__ import annotations

import numpy as np
import torch
import torchaudio

from emotion_models.voice import encoder as E
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

_ENCODER_SPECTROGRAM = torchaudio.transforms.Spectrogram(
    n_fft=E.ENCODER_N_FFT, hop_length=E.ENCODER_HOP, power=2.0, center=True, pad_mode="constant"
)
_ENCODER_MEL_SCALE = torchaudio.transforms.MelScale(
    n_mels=E.N_ENCODER_MELS,
    sample_rate=SAMPLE_RATE,
    f_min=0.0,
    f_max=SAMPLE_RATE / 2,
    n_stft=E.ENCODER_N_FFT // 2 + 1,
    norm="slaney",
    mel_scale="slaney",
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


@torch.inference_mode()
def torch_encoder_mel(wave: np.ndarray) -> np.ndarray:
    """(T, 40) mel power for the voice encoder, computed by torchaudio."""
    signal = torch.from_numpy(E.level_normalise(wave))
    return _ENCODER_MEL_SCALE(_ENCODER_SPECTROGRAM(signal)).T.numpy()


def training_encoder_features(wave: np.ndarray, encoder: E.VoiceEncoder) -> np.ndarray:
    """(ENCODER_FEATURES,) float32 voice-encoder features, torchaudio mel bands."""
    return encoder.pooled(torch_encoder_mel(wave))
