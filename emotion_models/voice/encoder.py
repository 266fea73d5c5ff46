"""Pretrained voice-encoder features: what an utterance sounds like, learnt from thousands of speakers.

Our emotion corpora have 17 speakers; hand-made statistics (features.py) levelled off on them. The
Resemblyzer voice encoder (a 3-layer LSTM trained for speaker verification on thousands of
speakers; Apache-2.0, shipped as `assets/voice_encoder.onnx`, see its licence notice) describes
timbre, phonation and effort far more richly, and emotion moves exactly those. The classifier sees
its hidden states pooled over the utterance beside our statistics; with per-speaker normalisation
on top (speaker_norm.py) the shift of a voice away from its own usual sound is what counts.

Input: 40 mel power bands (Slaney scale, as librosa builds them; no log: that is how the encoder
was trained) of 25 ms Hann frames every 10 ms, after raising quiet audio to -30 dBFS RMS.
Output columns (ENCODER_FEATURES = 1280): mean of LSTM layer 1, 2, 3 outputs (256 each), standard
deviation of layer 3 (256), and the unit-length 256-d speaker embedding.
Training computes the mel bands with torchaudio (training/voice/frontend.py); tests hold the two
front ends together.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from emotion_models.model_files import ASSETS_DIR, ModelFileError, read_verified
from emotion_models.voice.audio import SAMPLE_RATE
from emotion_models.voice.features import triangular_filters
from emotion_models.voice.session import cpu_session

DEFAULT_ENCODER = ASSETS_DIR / "voice_encoder.onnx"
ENCODER_SHA256 = "6b0fd036d5726e262286d9f9ead54d2345ae65d238dc9f26ebf5188bb6cebf3a"  # checked at load
ENCODER_VERSION = "resemblyzer-ge2e-pooled-v1"  # part of the classifier's front-end version
ENCODER_INPUT = "mel"
ENCODER_OUTPUT = "pooled"
ENCODER_FEATURES = 1280
N_ENCODER_MELS = 40
ENCODER_N_FFT = 400  # 25 ms
ENCODER_HOP = 160  # 10 ms
TARGET_DBFS = -30.0
MIN_FRAMES = 2


def slaney_mel_filterbank(n_mels: int = N_ENCODER_MELS, n_fft: int = ENCODER_N_FFT) -> np.ndarray:
    """(n_fft//2+1, n_mels) Slaney-scale, area-normalised filters, 0-8000 Hz (librosa's default).

    Resemblyzer (40 bands) and Whisper (80 bands, whisper.py) were both trained on these."""
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0

    def hz_to_mel(hz: np.ndarray) -> np.ndarray:
        mel = hz / f_sp
        return np.where(
            hz >= min_log_hz, min_log_mel + np.log(np.maximum(hz, 1e-10) / min_log_hz) / logstep, mel
        )

    def mel_to_hz(mel: np.ndarray) -> np.ndarray:
        return np.where(mel >= min_log_mel, min_log_hz * np.exp(logstep * (mel - min_log_mel)), f_sp * mel)

    edges = mel_to_hz(np.linspace(hz_to_mel(np.array(0.0)), hz_to_mel(np.array(SAMPLE_RATE / 2)), n_mels + 2))
    filters = triangular_filters(edges, n_fft)
    return (filters * (2.0 / (edges[2:] - edges[:-2]))[None, :]).astype(np.float32)


_WINDOW = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(ENCODER_N_FFT) / ENCODER_N_FFT)).astype(np.float32)
_MEL_FB = slaney_mel_filterbank()


def level_normalise(wave: np.ndarray) -> np.ndarray:
    """Raise (never lower) the waveform to TARGET_DBFS RMS, as the encoder's training did."""
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    if wave.size == 0:
        raise ValueError("empty waveform")
    rms = float(np.sqrt(np.mean(wave.astype(np.float64) ** 2)))
    gain = 10 ** ((TARGET_DBFS - 20 * np.log10(rms + 1e-9)) / 20)
    wave = wave * gain if gain > 1.0 else wave
    # Pad so there are at least MIN_FRAMES frames (the std of one frame is undefined).
    return np.pad(wave, (0, max(0, MIN_FRAMES * ENCODER_HOP - wave.size))).astype(np.float32)


def encoder_mel(wave: np.ndarray) -> np.ndarray:
    """(T, 40) float32 mel power of a 16 kHz waveform: centred, zero-padded frames (as torch.stft)."""
    wave = level_normalise(wave)
    padded = np.pad(wave, (ENCODER_N_FFT // 2, ENCODER_N_FFT // 2))
    frames = np.lib.stride_tricks.sliding_window_view(padded, ENCODER_N_FFT)[::ENCODER_HOP]
    spectrum = np.fft.rfft(frames * _WINDOW, axis=1)
    return ((spectrum.real**2 + spectrum.imag**2) @ _MEL_FB).astype(np.float32)


class VoiceEncoder:
    """Load once per process; `features` is safe to call from one thread at a time."""

    def __init__(self, session: ort.InferenceSession, path: Path) -> None:
        self._session = session
        self.path = path
        meta = dict(session.get_modelmeta().custom_metadata_map)
        if meta.get("encoder_version") != ENCODER_VERSION:
            raise ValueError(f"{path}: encoder {meta.get('encoder_version')!r}, expected {ENCODER_VERSION!r}")

    @classmethod
    def load(cls, path: Path | None = None, threads: int = 1) -> VoiceEncoder:
        """The shipped encoder (its sha256 checked) or the file at `path`."""
        expected = ENCODER_SHA256 if path is None else None
        path = Path(path) if path is not None else DEFAULT_ENCODER
        data = read_verified(path, expected)
        try:
            session = cpu_session(data, threads)
        except Exception as exc:  # onnxruntime raises its own untyped errors for a broken file
            raise ModelFileError(f"{path}: not a readable ONNX model ({exc})") from exc
        return cls(session, path)

    def pooled(self, mel: np.ndarray) -> np.ndarray:
        """(T, 40) mel power -> (ENCODER_FEATURES,) float32."""
        (out,) = self._session.run([ENCODER_OUTPUT], {ENCODER_INPUT: np.asarray(mel, np.float32)[None]})
        return out[0]

    def features(self, wave: np.ndarray) -> np.ndarray:
        """(ENCODER_FEATURES,) float32 encoder features of one 16 kHz mono utterance (numpy front end)."""
        return self.features_batch([wave])[0]

    def features_batch(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        """(N, ENCODER_FEATURES): `features` of each wave, utterances of equal length in one call.

        A live call's speech is mostly cut into windows of the VAD's maximum length, so most of a
        batch shares one length; batching those halves the LSTM's cost per utterance. Utterances
        are never padded (padding would change the pooled means), so each row equals `features`.
        """
        mels = [encoder_mel(w) for w in waves]
        out = np.empty((len(mels), ENCODER_FEATURES), dtype=np.float32)
        by_length: dict[int, list[int]] = {}
        for i, mel in enumerate(mels):
            by_length.setdefault(mel.shape[0], []).append(i)
        for rows in by_length.values():
            batch = np.stack([mels[i] for i in rows])
            out[rows] = self._session.run([ENCODER_OUTPUT], {ENCODER_INPUT: batch})[0]
        return out
